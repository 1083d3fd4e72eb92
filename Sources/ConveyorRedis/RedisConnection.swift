import CHiredis
#if canImport(Glibc)
import Glibc
#endif
import ConveyorPlatform

/// A blocking connection to one Redis server over hiredis.
///
/// Not thread-safe and not `Sendable`: a connection belongs to one thread at a time
/// (workers give every processor thread its own). After the connection breaks, the next
/// command reconnects with exponential backoff for up to `reconnectWait`.
public final class RedisConnection {
    public let configuration: RedisConfiguration
    var context: UnsafeMutablePointer<redisContext>?
    /// Commands appended with `append(_:)` whose replies have not been read.
    public private(set) var pendingReplies = 0
    /// Scripts this connection has seen the server accept, so pipelines can use EVALSHA.
    var loadedScripts: Set<String> = []
    /// How many times a lost connection was re-established (for logs and tests).
    public private(set) var reconnectCount = 0
    /// The server actually connected to (resolved through Sentinel when configured).
    public private(set) var connectedAddress: String = ""

    /// Connects once; a server that is down fails here immediately with `.connectionFailed`.
    public init(_ configuration: RedisConfiguration) throws(RedisError) {
        self.configuration = configuration
        _ = Self.ignoreSIGPIPE
        try connect()
    }

    /// A connection that connects on its first command (so a processor whose jobs never
    /// use Redis never opens it).
    public init(connectingLazily configuration: RedisConfiguration) {
        self.configuration = configuration
        _ = Self.ignoreSIGPIPE
    }

    /// hiredis writes with write(2): a server that went away would raise SIGPIPE and kill
    /// the process, where an EPIPE error (and a reconnect) is what we want.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    public convenience init(url: String) throws(RedisError) {
        try self.init(RedisConfiguration(url: url))
    }

    deinit {
        if let context { redisFree(context) }
    }

    public var isConnected: Bool { context != nil }

    /// Closes the socket; the next command reconnects.
    public func close() {
        if let context { redisFree(context) }
        context = nil
        pendingReplies = 0
        loadedScripts.removeAll()
    }

    // MARK: - Connecting

    private func connect() throws(RedisError) {
        close()
        let endpoint: RedisConfiguration.Endpoint
        if case .sentinel(let sentinels, let master) = configuration.endpoint {
            endpoint = try RedisSentinel.resolveMaster(sentinels: sentinels, master: master, configuration: configuration)
        } else {
            endpoint = configuration.endpoint
        }
        let ctx: UnsafeMutablePointer<redisContext>?
        let tv = Self.timeval(configuration.connectTimeout)
        switch endpoint {
        case .tcp(let host, let port):
            ctx = redisConnectWithTimeout(host, Int32(port), tv)
            connectedAddress = RedisConfiguration.HostPort(host: host, port: port).description
        case .unix(let path):
            ctx = redisConnectUnixWithTimeout(path, tv)
            connectedAddress = path
        case .sentinel:
            preconditionFailure("sentinel endpoints resolve to tcp")
        }
        guard let ctx else { throw RedisError(.connectionFailed, "out of memory allocating a hiredis context") }
        if ctx.pointee.err != 0 {
            let message = Self.errorString(ctx)
            redisFree(ctx)
            throw RedisError(.connectionFailed, "\(connectedAddress): \(message)")
        }
        if case .tcp = endpoint { _ = redisEnableKeepAlive(ctx) }
        _ = redisSetTimeout(ctx, Self.timeval(configuration.commandTimeout))
        context = ctx
        do {
            try handshake()
        } catch {
            close()
            if error.code == .server {
                throw RedisError(.connectionFailed, "\(connectedAddress): \(error.message)")
            }
            throw error
        }
    }

    private func handshake() throws(RedisError) {
        if let password = configuration.password, !password.isEmpty {
            var auth = RedisCommand("AUTH")
            if let user = configuration.username { auth.append(user) }
            auth.append(password)
            _ = try sendOnce(auth)
        }
        if configuration.database != 0 {
            var select = RedisCommand("SELECT")
            select.append(configuration.database)
            _ = try sendOnce(select)
        }
        if let name = configuration.clientName {
            var setName = RedisCommand("CLIENT")
            setName.append("SETNAME")
            setName.append(name.map { $0 == " " ? "-" : $0 }.reduce(into: "") { $0.append($1) })
            _ = try sendOnce(setName)
        }
        if case .sentinel = configuration.endpoint {
            // After a failover the old master may still answer as a replica for a while.
            let role = try sendOnce(RedisCommand("ROLE"))
            if role.array?.first?.string != "master" {
                throw RedisError(.connectionFailed, "\(connectedAddress) is not a master yet")
            }
        }
    }

    /// Re-establishes a broken connection, backing off from 50 ms up to 1 s between
    /// attempts, for at most `reconnectWait`.
    public func reconnect() throws(RedisError) {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1))
        try backoff.retry(until: .now + configuration.reconnectWait, giveUp: { $0.code == .invalidConfiguration }) { () throws(RedisError) in
            try connect()
        }
        reconnectCount += 1
    }

    func ensureConnected() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if context == nil { try reconnect() }
        return context!
    }

    // MARK: - Commands

    /// Sends one command and returns its reply; an error reply is thrown.
    @discardableResult
    public func send(_ command: RedisCommand) throws(RedisError) -> RedisReply {
        precondition(pendingReplies == 0, "read pending pipelined replies before sending a command")
        _ = try ensureConnected()
        return try sendOnce(command)
    }

    /// Sends a command built from its arguments: `try redis.command("SET", "k", "v")`.
    @discardableResult
    public func command(_ arguments: any RedisArgumentConvertible...) throws(RedisError) -> RedisReply {
        try send(RedisCommand(arguments))
    }

    private func sendOnce(_ command: RedisCommand) throws(RedisError) -> RedisReply {
        guard let ctx = context else { throw RedisError(.connectionLost, "not connected") }
        let raw = command.withArgv { argc, argv, lengths in redisCommandArgv(ctx, argc, argv, lengths) }
        guard let raw else { throw failConnection(ctx) }
        defer { freeReplyObject(raw) }
        let reply = Self.convert(raw.assumingMemoryBound(to: redisReply.self))
        if case .error(let message) = reply {
            let error = RedisError(.server, message)
            dropIfFailedOver(error)
            throw error
        }
        return reply
    }

    /// After a failover the old master answers READONLY (and blocked clients UNBLOCKED):
    /// drop the connection so the next command finds the new master.
    private func dropIfFailedOver(_ error: RedisError) {
        if error.isReadOnly || error.isUnblocked { close() }
    }

    // MARK: - Pipelining

    /// Queues a command without waiting for its reply; read it later with `readReply()`.
    public func append(_ command: RedisCommand) throws(RedisError) {
        let ctx = try (pendingReplies == 0 ? ensureConnected() : currentContext())
        let status = command.withArgv { argc, argv, lengths in redisAppendCommandArgv(ctx, argc, argv, lengths) }
        guard status == chiredis_ok() else { throw failConnection(ctx) }
        pendingReplies += 1
    }

    /// Writes queued commands to the socket without reading replies, so the server works
    /// on them while the caller does something else.
    public func flush() throws(RedisError) {
        let ctx = try currentContext()
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(ctx, &done) != chiredis_ok() { throw failConnection(ctx) }
        }
    }

    /// Reads the reply of the oldest queued command. Error replies are returned as
    /// `.error` values, not thrown, so one failed command does not hide the others.
    public func readReply() throws(RedisError) -> RedisReply {
        precondition(pendingReplies > 0, "no pipelined command is waiting for a reply")
        let ctx = try currentContext()
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(ctx, &raw) == chiredis_ok(), let raw else { throw failConnection(ctx) }
        pendingReplies -= 1
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends all commands in one write and reads all replies: one round trip.
    public func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RedisReply] {
        precondition(pendingReplies == 0, "read pending pipelined replies before starting a pipeline")
        guard !commands.isEmpty else { return [] }
        for command in commands { try append(command) }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply()) }
        if let failover = replies.lazy.compactMap(\.error).first(where: { $0.isReadOnly || $0.isUnblocked }) { dropIfFailedOver(failover) }
        return replies
    }

    func currentContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context else { throw RedisError(.connectionLost, "the connection was closed with replies pending") }
        return context
    }

    // MARK: - Blocking commands

    /// Runs a blocking command (`BLMOVE`, `BRPOP`, ...) whose server-side timeout is
    /// `blockFor`; the socket waits that long plus the normal command timeout.
    public func sendBlocking(_ command: RedisCommand, blockFor: Duration) throws(RedisError) -> RedisReply {
        let ctx = try ensureConnected()
        _ = redisSetTimeout(ctx, Self.timeval(blockFor + configuration.commandTimeout))
        defer { if let context { _ = redisSetTimeout(context, Self.timeval(configuration.commandTimeout)) } }
        return try sendOnce(command)
    }

    // MARK: - Helpers

    /// Records why the context failed and drops it; the next command reconnects.
    func failConnection(_ ctx: UnsafeMutablePointer<redisContext>) -> RedisError {
        let savedErrno = errno
        let message = Self.errorString(ctx)
        let kind = ctx.pointee.err
        close()
        if kind == chiredis_err_io(), savedErrno == EAGAIN || savedErrno == EWOULDBLOCK {
            return RedisError(.timeout, "no reply from \(connectedAddress) within the timeout")
        }
        if kind == chiredis_err_protocol() {
            return RedisError(.connectionLost, "protocol error from \(connectedAddress): \(message)")
        }
        return RedisError(.connectionLost, "\(connectedAddress): \(message.isEmpty ? "connection closed" : message)")
    }

    static func errorString(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: ctx.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case chiredis_reply_string():
            guard let str = r.str else { return .bulkString([]) }
            return .bulkString(Array(UnsafeRawBufferPointer(start: str, count: r.len)))
        case chiredis_reply_integer():
            return .integer(r.integer)
        case chiredis_reply_nil():
            return .null
        case chiredis_reply_status():
            return .status(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "")
        case chiredis_reply_error():
            return .error(r.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.len), as: UTF8.self) } ?? "ERR")
        case chiredis_reply_array():
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { elements.append(convert(element)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }
}

@available(*, unavailable)
extension RedisConnection: Sendable {}
