import CHiredis
#if canImport(Glibc)
import Glibc
#endif

extension RedisConnection {
    /// This connection's `CLIENT ID`, which other connections name in `REDIRECT`.
    public func clientID() throws(RedisError) -> Int {
        guard let id = try command("CLIENT", "ID").int else { throw RedisError(.unexpectedReply, "CLIENT ID returned no integer") }
        return id
    }

    /// Subscribes to `channel` and reads the confirmation; afterwards the connection only
    /// receives messages (read them with `waitForMessages`).
    public func subscribe(_ channel: String) throws(RedisError) {
        let reply = try send(RedisCommand(["SUBSCRIBE", channel]))
        guard reply.array?.first?.string == "subscribe" else {
            throw RedisError(.unexpectedReply, "SUBSCRIBE \(channel) was not confirmed")
        }
    }

    /// Waits up to `timeout` for messages on a subscribed connection and reads every one
    /// that has arrived; returns how many. A timeout leaves the connection usable (unlike
    /// a socket timeout, after which hiredis gives the connection up).
    public func waitForMessages(timeout: Duration) throws(RedisError) -> Int {
        let ctx = try currentContext()
        var count = try drainReader(ctx)
        if count > 0 { return count }
        var descriptor = pollfd(fd: ctx.pointee.fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: max(0, Int(timeout.seconds * 1000)))
        var ready: Int32
        repeat { ready = poll(&descriptor, 1, milliseconds) } while ready < 0 && errno == EINTR
        guard ready > 0 else { return 0 }
        guard redisBufferRead(ctx) == chiredis_ok() else { throw failConnection(ctx) }
        count = try drainReader(ctx)
        return count
    }

    private func drainReader(_ ctx: UnsafeMutablePointer<redisContext>) throws(RedisError) -> Int {
        var count = 0
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(ctx, &raw) == chiredis_ok() else { throw failConnection(ctx) }
            guard let raw else { return count }
            freeReplyObject(raw)
            count += 1
        }
    }
}
