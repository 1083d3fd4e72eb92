import CLibPQ
import CLibPQLoader
#if canImport(Glibc)
import Glibc
#endif
import ConveyorPlatform

/// A blocking libpq connection. Parameterised queries only (`PQexecParams`).
///
/// Not thread-safe and not `Sendable`: one thread uses a connection at a time. Every
/// session starts with `TimeZone=UTC`, `DateStyle=ISO` and UTF-8; a broken connection is
/// re-established (with backoff) by the next query, which re-applies session settings.
public final class PostgresConnection {
    public let configuration: PostgresConfiguration
    private(set) var connection: OpaquePointer?
    /// Settings applied with `setSessionSetting`, restored after a reconnect.
    private var sessionSettings: [(String, String)] = []
    public private(set) var reconnectCount = 0
    /// Statements sent to the server (each a round trip), reconnect set-up included.
    public private(set) var roundTrips = 0
    /// Catalog answers (tables, columns) kept for a few seconds, so a job that resolves the
    /// same names for every batch does not query the catalog each time.
    var catalogCache: [String: (expires: ContinuousClock.Instant, value: Any)] = [:]
    /// The timeout a `withStatementTimeout` block set, while it runs.
    private var activeStatementTimeout: String?
    /// Statements prepared on this session (`queryPrepared`), by SQL text.
    private var preparedStatements: [String: String] = [:]
    private var preparedNumber = 0
    static let maxPreparedStatements = 64

    public init(_ configuration: PostgresConfiguration) throws(PostgresError) {
        self.configuration = configuration
        try connect()
    }

    public convenience init(connectionString: String) throws(PostgresError) {
        try self.init(PostgresConfiguration(connectionString: connectionString))
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    public func close() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    public var isConnected: Bool { connection != nil && PQstatus(connection) == CONNECTION_OK }

    /// The server backend's process id (for `pg_terminate_backend` in drills).
    public var backendPID: Int32 { connection.map { PQbackendPID($0) } ?? 0 }

    public var serverVersion: Int { connection.map { Int(PQserverVersion($0)) } ?? 0 }

    // MARK: - Connecting

    private func connect() throws(PostgresError) {
        guard conveyor_libpq_load() == 0 else {
            throw PostgresError(.connectionFailed, String(cString: conveyor_libpq_load_error()))
        }
        close()
        catalogCache.removeAll()
        activeStatementTimeout = nil
        preparedStatements.removeAll()
        let timeout = String(max(1, configuration.connectTimeout.components.seconds))
        // TCP keepalive and tcp_user_timeout: a peer that vanished (host down, path
        // dropping packets) is noticed within ~30 s, idle or mid-query, instead of after the
        // kernel's two hours. (A path that hangs while both kernels still answer — a stuck
        // proxy — needs a reply timeout: see `PostgresConfiguration.replyTimeout`.)
        var keywords = ["connect_timeout", "application_name", "client_encoding", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"]
        var values = [timeout, configuration.applicationName, "UTF8", "1", "15", "5", "3", "30000"]
        if !configuration.connectionString.isEmpty {
            // Later entries win, so the user's string overrides the defaults above.
            keywords.append("dbname")
            values.append(configuration.connectionString)
        }
        let conn = Self.withCStrings(keywords) { k in
            Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else { throw PostgresError(.connectionFailed, "out of memory") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(.connectionFailed, "\(configuration.displayName): \(message)")
        }
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        connection = conn
        do {
            _ = try execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")
            for (name, value) in sessionSettings { _ = try query("SELECT set_config(\(name), \(value), false)") }
            activeStatementTimeout = sessionSettings.first { $0.0 == "statement_timeout" }?.1
        } catch {
            close()
            throw error
        }
    }

    /// Reconnects with backoff (50 ms doubling to 1 s) for up to `reconnectWait`.
    public func reconnect() throws(PostgresError) {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1))
        try backoff.retry(until: .now + configuration.reconnectWait) { () throws(PostgresError) in
            try connect()
        }
        reconnectCount += 1
    }

    private func ensureConnected() throws(PostgresError) -> OpaquePointer {
        if let connection, PQstatus(connection) == CONNECTION_OK {
            if !closedWhileIdle(connection) { return connection }
            close()
        }
        try reconnect()
        return connection!
    }

    /// When was the last statement sent: a session idle for longer is checked for the
    /// server's goodbye before it is used again.
    private var lastUsed = ContinuousClock.now
    static let idleCheckAfter: Duration = .milliseconds(50)

    /// Whether the server ended this session while it sat idle (pg_terminate_backend, an
    /// idle_session_timeout, a restart): its farewell and EOF are already in the socket.
    /// Such a session is replaced before the next statement instead of failing it, which
    /// is safe only outside a transaction (nothing is lost with it), so it is checked only
    /// then, and only after `idleCheckAfter` (a busy session costs no extra syscall).
    private func closedWhileIdle(_ conn: OpaquePointer) -> Bool {
        let now = ContinuousClock.now
        defer { lastUsed = now }
        guard now - lastUsed > Self.idleCheckAfter, PQtransactionStatus(conn) == PQTRANS_IDLE else { return false }
        for _ in 0..<3 {
            var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return false }
            // Reads what arrived (a notification stays queued for PQnotifies; a FATAL
            // message, then EOF, marks the connection bad).
            if PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK { return true }
        }
        return PQstatus(conn) != CONNECTION_OK
    }

    // MARK: - Queries

    /// Runs one parameterised statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        let conn = try ensureConnected()
        for (i, bind) in query.binds.enumerated() where bind?.utf8.contains(0) == true {
            throw PostgresError(.invalidParameter, "parameter $\(i + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let result: OpaquePointer? = try query.binds.withCStringArray { params throws(PostgresError) in
            try perform(conn, { PQexecParams(conn, query.sql, Int32(query.binds.count), nil, params, nil, nil, 0) }) {
                PQsendQueryParams(conn, query.sql, Int32(query.binds.count), nil, params, nil, nil, 0)
            }
        }
        return try consume(result, connection: conn)
    }

    /// Runs a parameterised statement that is parsed and planned once per session: the
    /// first call prepares it, later calls only bind and execute (one round trip, less
    /// server CPU). For statements a job runs many times; at most 64 per session are kept.
    /// A statement whose plan went stale (a table changed shape: 0A000) is prepared again.
    @discardableResult
    public func queryPrepared(_ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        do {
            return try executePrepared(query)
        } catch where error.sqlState == "0A000" || error.sqlState == "26000" {
            if let stale = preparedStatements.removeValue(forKey: query.sql), let conn = connection {
                if let result = PQexec(conn, "DEALLOCATE \(stale)") { PQclear(result) }
            }
            return try executePrepared(query)
        }
    }

    private func executePrepared(_ query: PostgresQuery) throws(PostgresError) -> PostgresResult {
        let conn = try ensureConnected()
        for (i, bind) in query.binds.enumerated() where bind?.utf8.contains(0) == true {
            throw PostgresError(.invalidParameter, "parameter $\(i + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let name: String
        if let known = preparedStatements[query.sql] {
            name = known
        } else {
            if preparedStatements.count >= Self.maxPreparedStatements {
                _ = try consume(PQexec(conn, "DEALLOCATE ALL"), connection: conn)
                preparedStatements.removeAll()
            }
            preparedNumber += 1
            name = "conveyor_\(preparedNumber)"
            let prepared = try perform(conn, { PQprepare(conn, name, query.sql, Int32(query.binds.count), nil) }) {
                PQsendPrepare(conn, name, query.sql, Int32(query.binds.count), nil)
            }
            _ = try consume(prepared, connection: conn)
            preparedStatements[query.sql] = name
        }
        let result: OpaquePointer? = try query.binds.withCStringArray { params throws(PostgresError) in
            try perform(conn, { PQexecPrepared(conn, name, Int32(query.binds.count), params, nil, nil, 0) }) {
                PQsendQueryPrepared(conn, name, Int32(query.binds.count), params, nil, nil, 0)
            }
        }
        return try consume(result, connection: conn)
    }

    /// Runs SQL without parameters, possibly several statements (`PQexec`); for DDL and
    /// fixed session commands only.
    @discardableResult
    public func execute(_ sql: String) throws(PostgresError) -> PostgresResult {
        let conn = try ensureConnected()
        return try consume(try perform(conn, { PQexec(conn, sql) }) { PQsendQuery(conn, sql) }, connection: conn)
    }

    /// Runs a statement: blocking in libpq (`exec`) unless a reply timeout is configured;
    /// then sent (`send`) and waited for with poll(2), the last result kept as PQexec
    /// keeps it. No reply within the timeout closes the connection and throws
    /// `connectionLost` (the statement may or may not have run).
    private func perform(_ conn: OpaquePointer, _ exec: () -> OpaquePointer?, send: () -> Int32) throws(PostgresError) -> OpaquePointer? {
        guard let timeout = configuration.replyTimeout else { return exec() }
        guard send() == 1 else { return nil }
        let deadline = ContinuousClock.now + timeout
        func wait(_ events: Int16) throws(PostgresError) {
            let remaining = deadline - ContinuousClock.now
            var descriptor = pollfd(fd: PQsocket(conn), events: events, revents: 0)
            if remaining <= .zero || poll(&descriptor, 1, Int32(max(1, Self.milliseconds(remaining)))) == 0 {
                close()
                throw PostgresError(.connectionLost, "no reply from PostgreSQL within \(Self.milliseconds(timeout)) ms (DATABASE_REPLY_TIMEOUT); closed the connection, the statement may or may not have run")
            }
        }
        while true {
            let flushed = PQflush(conn)
            if flushed == 0 { break }
            if flushed < 0 { return PQgetResult(conn) }
            try wait(Int16(POLLOUT | POLLIN))
            _ = PQconsumeInput(conn)
        }
        var last: OpaquePointer?
        while true {
            while PQisBusy(conn) == 1 {
                try wait(Int16(POLLIN))
                if PQconsumeInput(conn) == 0 { break }
            }
            guard let result = PQgetResult(conn) else { break }
            if let last { PQclear(last) }
            last = result
            let status = PQresultStatus(result)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || PQstatus(conn) == CONNECTION_BAD { break }
        }
        return last
    }

    private func consume(_ result: OpaquePointer?, connection conn: OpaquePointer) throws(PostgresError) -> PostgresResult {
        roundTrips &+= 1
        guard let result else {
            throw lostOrFailed(conn, message: Self.trimmed(PQerrorMessage(conn)))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            let rows = Int(PQntuples(result))
            let fields = Int(PQnfields(result))
            let names = (0..<fields).map { String(cString: PQfname(result, Int32($0))) }
            var values: [String?] = []
            values.reserveCapacity(rows * fields)
            for row in 0..<rows {
                for field in 0..<fields {
                    if PQgetisnull(result, Int32(row), Int32(field)) == 1 {
                        values.append(nil)
                    } else {
                        let length = Int(PQgetlength(result, Int32(row), Int32(field)))
                        let pointer = PQgetvalue(result, Int32(row), Int32(field))!
                        values.append(pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                        })
                    }
                }
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresResult(columns: PostgresColumns(names: names), values: values, affectedRows: affected)
        default:
            func field(_ code: Int32) -> String? {
                PQresultErrorField(result, code).map { String(cString: $0) }
            }
            let sqlState = field(clibpq_diag_sqlstate())
            let message = field(clibpq_diag_message_primary()) ?? Self.trimmed(PQresultErrorMessage(result))
            if PQstatus(conn) != CONNECTION_OK {
                throw lostOrFailed(conn, message: message)
            }
            throw PostgresError(
                .server, message, sqlState: sqlState, detail: field(clibpq_diag_message_detail()),
                hint: field(clibpq_diag_message_hint()), severity: field(clibpq_diag_severity()))
        }
    }

    private func lostOrFailed(_ conn: OpaquePointer, message: String) -> PostgresError {
        if PQstatus(conn) != CONNECTION_OK {
            close()
            return PostgresError(.connectionLost, message.isEmpty ? "server closed the connection" : message)
        }
        return PostgresError(.server, message)
    }

    // MARK: - Transactions, settings, locks

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Whether a transaction is open on this session.
    public var inTransaction: Bool {
        guard let connection else { return false }
        let status = PQtransactionStatus(connection)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// Sets a run-time parameter for the session (kept across reconnects); nil resets it.
    public func setSessionSetting(_ name: String, _ value: String?) throws(PostgresError) {
        sessionSettings.removeAll { $0.0 == name }
        if let value {
            sessionSettings.append((name, value))
            try query("SELECT set_config(\(name), \(value), false)")
        } else {
            try query("SELECT set_config(\(name), NULL, false)")
        }
    }

    /// `statement_timeout` for the whole session; nil restores the server default.
    /// `withStatementTimeout` with the same value then costs no round trips.
    public func setStatementTimeout(_ timeout: Duration?) throws(PostgresError) {
        let value = timeout.map { "\(Self.milliseconds($0))ms" }
        activeStatementTimeout = nil
        try setSessionSetting("statement_timeout", value)
        activeStatementTimeout = value
    }

    public func setLockTimeout(_ timeout: Duration?) throws(PostgresError) {
        try setSessionSetting("lock_timeout", timeout.map { "\(Self.milliseconds($0))ms" })
    }

    /// Runs `body` with `statement_timeout` set for its duration only. Nested calls with
    /// the same timeout cost nothing.
    public func withStatementTimeout<T>(_ timeout: Duration, _ body: () throws -> T) throws -> T {
        let wanted = "\(Self.milliseconds(timeout))ms"
        if activeStatementTimeout == wanted { return try body() }
        let previous = activeStatementTimeout
        try query("SELECT set_config('statement_timeout', \(wanted), false)")
        activeStatementTimeout = wanted
        defer {
            let restore = previous ?? sessionSettings.first { $0.0 == "statement_timeout" }?.1 ?? "0"
            _ = try? query("SELECT set_config('statement_timeout', \(restore), false)")
            activeStatementTimeout = previous
        }
        return try body()
    }

    /// A session-level advisory lock; true if this session now holds it.
    public func tryAdvisoryLock(_ key: Int64) throws(PostgresError) -> Bool {
        try query("SELECT pg_try_advisory_lock(\(key)) AS locked").first?["locked"].bool() ?? false
    }

    @discardableResult
    public func advisoryUnlock(_ key: Int64) throws(PostgresError) -> Bool {
        try query("SELECT pg_advisory_unlock(\(key)) AS unlocked").first?["unlocked"].bool() ?? false
    }

    /// A transaction-level advisory lock, released at commit or rollback.
    public func tryAdvisoryTransactionLock(_ key: Int64) throws(PostgresError) -> Bool {
        try query("SELECT pg_try_advisory_xact_lock(\(key)) AS locked").first?["locked"].bool() ?? false
    }

    /// libpq's own identifier quoting (`PQescapeIdentifier`).
    public func escapeIdentifier(_ name: String) throws(PostgresError) -> String {
        let conn = try ensureConnected()
        guard let escaped = PQescapeIdentifier(conn, name, name.utf8.count) else {
            throw PostgresError(.invalidIdentifier, Self.trimmed(PQerrorMessage(conn)))
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    // MARK: - Helpers

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        return String(cString: message).trimmed()
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let duplicated = strings.map { strdup($0) }
        defer { duplicated.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) }
        pointers.append(nil)
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

@available(*, unavailable)
extension PostgresConnection: Sendable {}

extension Array where Element == String? {
    fileprivate func withCStringArray<R, E: Error>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws(E) -> R) throws(E) -> R {
        if isEmpty { return try body(nil) }
        let duplicated = map { $0.map { strdup($0) } ?? nil }
        defer { duplicated.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = duplicated.map { $0.map { UnsafePointer($0) } }
        return try pointers.withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer.baseAddress) }
    }
}
