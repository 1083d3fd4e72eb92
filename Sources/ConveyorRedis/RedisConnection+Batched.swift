import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// Batched writes: commands whose replies are switched off (`CLIENT REPLY OFF`), written
/// straight to the socket with `MSG_MORE` on a corked TCP connection. Each write is in the
/// kernel when it returns — a process killed afterwards still delivers it (closing a socket
/// pushes what is pending, and with no replies there is no unread data to turn the close
/// into a reset) — but the kernel holds the bytes until `pushBatched()` or ~200 ms pass, so
/// the server wakes once per batch instead of once per command. Used for reliable fetch's
/// acknowledgements. A connection in this mode only takes `writeBatched` until
/// `endBatchedWrites()`.
extension RedisConnection {
    /// Turns replies off and corks the socket.
    public func beginBatchedWrites() throws(RedisError) {
        precondition(pendingReplies == 0, "read pending replies before batching writes")
        let ctx = try ensureConnected()
        try writeRaw(RedisCommand(["CLIENT", "REPLY", "OFF"]), ctx: ctx, more: false)
        setCork(ctx, true)
    }

    /// Writes one command into the kernel's buffer for this connection.
    public func writeBatched(_ command: RedisCommand) throws(RedisError) {
        try writeRaw(command, ctx: try currentContext(), more: true)
    }

    /// Sends what is buffered now; the socket stays corked for later writes. (Setting
    /// TCP_NODELAY flushes pending output even while corked: one syscall.)
    public func pushBatched() {
        guard let ctx = context else { return }
        var one: Int32 = 1
        _ = setsockopt(ctx.pointee.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Uncorks, turns replies back on and waits for the server to answer, which proves it
    /// has read every batched command before it.
    public func endBatchedWrites() throws(RedisError) {
        let ctx = try currentContext()
        setCork(ctx, false)
        try writeRaw(RedisCommand(["CLIENT", "REPLY", "ON"]), ctx: ctx, more: false)
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(ctx, &raw) == chiredis_ok(), let raw else { throw failConnection(ctx) }
        freeReplyObject(raw)
    }

    private func setCork(_ ctx: UnsafeMutablePointer<redisContext>, _ on: Bool) {
        var value: Int32 = on ? 1 : 0
        // Not TCP (a Unix socket): writes are delivered at once; nothing to cork.
        _ = setsockopt(ctx.pointee.fd, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// RESP-encodes `command` and writes it all with send(2), bypassing hiredis's buffer
    /// (which is empty: nothing is pending on this connection).
    private func writeRaw(_ command: RedisCommand, ctx: UnsafeMutablePointer<redisContext>, more: Bool) throws(RedisError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(command.buffer.count + 16 * command.ends.count + 16)
        func appendDecimal(_ value: Int) {
            var digits: [UInt8] = []
            var n = value
            repeat { digits.append(UInt8(48 + n % 10)); n /= 10 } while n > 0
            bytes.append(contentsOf: digits.reversed())
        }
        bytes.append(42)  // *
        appendDecimal(command.ends.count)
        bytes.append(13); bytes.append(10)
        var start = 0
        for end in command.ends {
            bytes.append(36)  // $
            appendDecimal(end - start)
            bytes.append(13); bytes.append(10)
            bytes.append(contentsOf: command.buffer[start..<end])
            bytes.append(13); bytes.append(10)
            start = end
        }
        let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
        let failure: Int32? = bytes.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let sent = Glibc.send(ctx.pointee.fd, raw.baseAddress! + offset, raw.count - offset, flags)
                if sent < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += sent
            }
            return nil
        }
        if let failure {
            close()
            throw RedisError(.connectionLost, "\(connectedAddress): \(String(cString: strerror(failure)))")
        }
    }
}
