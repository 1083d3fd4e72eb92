import ConveyorJSON
import ConveyorPostgres
import Foundation
import Testing
import TestSupport

@Suite("PostgreSQL connection against a real server")
struct PostgresConnectionTests {
    @Test("parameters with quotes, backslashes, unicode and NULL arrive as sent")
    func trickyParameters() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text, extra text)")
        let body = "it's a \"quoted\" \\ back'; DROP TABLE notes; -- ünïcødé 🚂 日本"
        let missing: String? = nil
        try db.query("INSERT INTO notes (body, extra) VALUES (\(body), \(missing))")
        let row = try #require(try db.query("SELECT body, extra, extra IS NULL AS is_null FROM notes").first)
        #expect(try row["body"].string() == body)
        #expect(row["extra"].isNull)
        #expect(try row["is_null"].bool())
        #expect(try db.query("SELECT count(*) AS n FROM notes").first?["n"].int() == 1)
    }

    @Test("int, bigint, bool, float, numeric, timestamptz, jsonb and NULL decode")
    func decoding() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        let now = Date(timeIntervalSince1970: 1_764_076_401.123456)
        let json: JSONValue = ["a": [1, 2.5, "x"], "b": nil, "c": true]
        let row = try #require(try db.query(
            """
            SELECT 42::int AS i, 9007199254740993::bigint AS big, true AS t, 2.5::float8 AS f,
                   12345678901234567890.123456789::numeric AS n, \(now)::timestamptz AS ts,
                   \(json)::jsonb AS j, NULL::int AS nothing
            """).first)
        #expect(try row["i"].int() == 42)
        #expect(try row["big"].int64() == 9_007_199_254_740_993)
        #expect(try row["t"].bool())
        #expect(try row["f"].double() == 2.5)
        #expect(try row["n"].decimal() == Decimal(string: "12345678901234567890.123456789"))
        #expect(abs(try row["ts"].date().timeIntervalSince1970 - now.timeIntervalSince1970) < 0.000_001)
        #expect(try row["j"].json() == json)
        #expect(try row["nothing"].optionalInt() == nil)
        #expect(throws: PostgresError.self) { try row["nothing"].int() }
        #expect(throws: PostgresError.self) { try row["t"].int() }
    }

    @Test("a unique violation carries SQLSTATE 23505; its description shows no parameter")
    func uniqueViolation() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE users (email text PRIMARY KEY)")
        let secret = "secret-address@example.com"
        try db.query("INSERT INTO users VALUES (\(secret))")
        let error = #expect(throws: PostgresError.self) { try db.query("INSERT INTO users VALUES (\(secret))") }
        #expect(error?.sqlState == "23505")
        #expect(error?.isUniqueViolation == true)
        #expect(error?.description.contains(secret) == false)
        #expect(error?.description.contains("23505") == true)
        #expect(error?.detail?.contains(secret) == true)  // the server's detail is kept apart
    }

    @Test("a transaction rolls back when its body throws")
    func rollbackOnError() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE ledger (id int PRIMARY KEY)")
        #expect(throws: PostgresError.self) {
            try db.transaction { tx in
                try tx.query("INSERT INTO ledger VALUES (\(1))")
                try tx.query("INSERT INTO ledger VALUES (\(1))")  // duplicate
            }
        }
        #expect(!db.inTransaction)
        #expect(try db.query("SELECT count(*) AS n FROM ledger").first?["n"].int() == 0)
        _ = try db.transaction { tx in try tx.query("INSERT INTO ledger VALUES (\(2))") }
        #expect(try db.query("SELECT count(*) AS n FROM ledger").first?["n"].int() == 1)
    }

    @Test("odd but legal identifiers are quoted correctly")
    func oddIdentifiers() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        let table = try SQLIdentifier("a\"b")
        let column = try SQLIdentifier("my column")
        #expect(table.quoted == "\"a\"\"b\"")
        #expect(try db.escapeIdentifier("a\"b") == table.quoted)
        try db.query("CREATE TABLE \(identifier: table) (\(identifier: column) int)")
        try db.query("INSERT INTO \(identifier: table) (\(identifier: column)) VALUES (\(7))")
        #expect(try db.query("SELECT \(identifier: column) AS v FROM \(identifier: table)").first?["v"].int() == 7)
        let resolved = try db.resolveTable("a\"b")
        #expect(resolved.table == table)
        #expect(try db.resolveColumn("my column", in: resolved) == column)
    }

    @Test("an injection-shaped identifier is refused before any SQL runs")
    func injectionRefused() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE y (id int); INSERT INTO y VALUES (1)")
        for evil in ["x; DROP TABLE y", "y\"; DROP TABLE y; --", "y'", "y)", "a.b.c", ""] {
            let error = #expect(throws: PostgresError.self) { try db.resolveTable(evil) }
            #expect(error?.code == .invalidIdentifier)
        }
        #expect(throws: PostgresError.self) { try SQLIdentifier("x; DROP TABLE y") }
        #expect(try db.query("SELECT count(*) AS n FROM y").first?["n"].int() == 1)
    }

    @Test("catalog lookups refuse tables and columns that do not exist")
    func catalogValidation() throws {
        let (db, _, schema) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE events (id bigint PRIMARY KEY, payload text)")
        let events = try db.resolveTable("events")
        #expect(events.schema?.name == schema)
        #expect(try db.resolveTable("\(schema).events") == events)
        #expect(try db.columns(of: events).map(\.name) == ["id", "payload"])
        #expect(throws: PostgresError.self) { try db.resolveTable("nope") }
        #expect(throws: PostgresError.self) { try db.resolveColumn("nope", in: events) }
    }

    @Test("statement_timeout cancels with 57014 and is scoped to the block")
    func statementTimeout() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        let error = #expect(throws: PostgresError.self) {
            try db.withStatementTimeout(.milliseconds(100)) { try db.query("SELECT pg_sleep(2)") }
        }
        #expect(error?.sqlState == "57014")
        #expect(error?.isTimeout == true)
        #expect(try db.query("SELECT current_setting('statement_timeout') AS t").first?["t"].string() == "0")
        try db.setLockTimeout(.milliseconds(1500))
        #expect(try db.query("SELECT current_setting('lock_timeout') AS t").first?["t"].string() == "1500ms")
    }

    @Test("a session statement_timeout makes an equal scoped one free, survives a different one and a reconnect")
    func sessionStatementTimeout() throws {
        let (db, url, _) = try TestEnvironment.isolatedPostgres()
        func current() throws -> String? { try db.query("SELECT current_setting('statement_timeout') AS t").first?["t"].string() }
        try db.setStatementTimeout(.seconds(7))
        var before = db.roundTrips
        try db.withStatementTimeout(.seconds(7)) { try db.query("SELECT 1") }
        #expect(db.roundTrips - before == 1, "the same timeout was set again around the block")
        let error = #expect(throws: PostgresError.self) {
            try db.withStatementTimeout(.milliseconds(100)) { try db.query("SELECT pg_sleep(2)") }
        }
        #expect(error?.sqlState == "57014")
        #expect(try current() == "7s")
        let killer = try PostgresConnection(connectionString: url)
        try killer.query("SELECT pg_terminate_backend(\(Int(db.backendPID)))")
        _ = try? db.query("SELECT 1")
        #expect(try current() == "7s")
        before = db.roundTrips
        try db.withStatementTimeout(.seconds(7)) { try db.query("SELECT 1") }
        #expect(db.roundTrips - before == 1, "after a reconnect the session timeout was not known")
        try db.setStatementTimeout(nil)
        #expect(try current() == "0")
        before = db.roundTrips
        try db.withStatementTimeout(.seconds(7)) { try db.query("SELECT 1") }
        #expect(db.roundTrips - before == 3)
        #expect(try current() == "0")
    }

    @Test("advisory locks exclude a second session until released")
    func advisoryLocks() throws {
        let (a, url, _) = try TestEnvironment.isolatedPostgres()
        let b = try PostgresConnection(connectionString: url)
        let key: Int64 = 0x5EED_0000 + Int64(getpid())
        #expect(try a.tryAdvisoryLock(key))
        #expect(try !b.tryAdvisoryLock(key))
        #expect(try a.advisoryUnlock(key))
        #expect(try b.tryAdvisoryLock(key))
    }

    @Test("a terminated backend is reconnected by the next query, with session settings restored")
    func reconnectAfterTermination() throws {
        let (db, url, _) = try TestEnvironment.isolatedPostgres()
        try db.setStatementTimeout(.seconds(7))
        let killer = try PostgresConnection(connectionString: url)
        try killer.query("SELECT pg_terminate_backend(\(Int(db.backendPID)))")
        // Either the next query finds the session gone (its goodbye had not arrived yet),
        // or the goodbye was already in the socket and the session is replaced first.
        do { try db.query("SELECT 1") } catch { #expect((error as? PostgresError)?.isConnectionProblem == true, "\(error)") }
        #expect(try db.query("SELECT current_setting('statement_timeout') AS t").first?["t"].string() == "7s")
        #expect(db.reconnectCount == 1)
    }

    /// Waits until the server no longer lists backend `pid` (its goodbye has been sent).
    static func waitGone(_ pid: Int32, _ admin: PostgresConnection) throws {
        #expect(try TestEnvironment.eventually(timeout: .seconds(10)) {
            try admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(Int(pid))")[0]["n"].int() == 0
        })
        Thread.sleep(forTimeInterval: 0.1)
    }

    @Test("a session the server ended while it sat idle is replaced before the next statement, which succeeds")
    func idleTerminationReplaced() throws {
        let (db, url, _) = try TestEnvironment.isolatedPostgres()
        try db.setStatementTimeout(.seconds(7))
        try db.execute("CREATE TABLE idle_kill (id int PRIMARY KEY)")
        let admin = try PostgresConnection(connectionString: url)
        let pid = db.backendPID
        try admin.query("SELECT pg_terminate_backend(\(Int(pid)))")
        try Self.waitGone(pid, admin)
        try db.query("INSERT INTO idle_kill VALUES (\(1))")
        #expect(db.reconnectCount == 1)
        #expect(db.backendPID != pid)
        #expect(try db.query("SELECT current_setting('statement_timeout') AS t").first?["t"].string() == "7s")
        #expect(try admin.query("SELECT count(*) AS n FROM idle_kill")[0]["n"].int() == 1)
    }

    @Test("a session ended inside a transaction is never replaced silently: the statement fails")
    func terminationInTransactionFails() throws {
        let (db, url, _) = try TestEnvironment.isolatedPostgres()
        let admin = try PostgresConnection(connectionString: url)
        try db.execute("BEGIN")
        let pid = db.backendPID
        try admin.query("SELECT pg_terminate_backend(\(Int(pid)))")
        try Self.waitGone(pid, admin)
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT 1") }
        #expect(error?.isConnectionProblem == true)
        #expect(db.reconnectCount == 0)
    }

    @Test("a NUL byte in a text parameter is refused with a clear error")
    func nulParameter() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT \("a\u{0}b")::text") }
        #expect(error?.code == .invalidParameter)
    }

    @Test("a bad DATABASE_URL fails with connectionFailed and hides the password")
    func badConnection() throws {
        let port = try PrivateRedisServer.freePort()
        let error = #expect(throws: PostgresError.self) {
            try PostgresConnection(connectionString: "postgres://u:topsecret@127.0.0.1:\(port)/x")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.description.contains("topsecret") == false)
    }

    @Test("query interpolation renumbers binds of nested queries")
    func nestedQuery() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        let inner: PostgresQuery = "\(1)::int + \(2)::int"
        let outer: PostgresQuery = "SELECT \(10)::int + \(inner) AS total"
        #expect(outer.sql == "SELECT $1::int + $2::int + $3::int AS total")
        #expect(try db.query(outer).first?["total"].int() == 13)
    }
}
