import CHiredis

extension RedisConnection {
    /// Writes `command` to the socket preceded by `CLIENT REPLY SKIP`, so the server runs
    /// it and sends nothing back: the caller need not wait, and no unread reply can sit in
    /// the socket (a socket closed with unread data is reset, which may drop what was
    /// written last). Returns once the bytes are in the kernel; a process killed after
    /// that still delivers them. Errors of the command itself are not seen, so use it only
    /// for commands that cannot fail on a working connection (plain `LREM`, `DEL`).
    public func sendWithoutReply(_ command: RedisCommand) throws(RedisError) {
        let ctx = try (pendingReplies == 0 ? ensureConnected() : currentContext())
        var status = Self.skipReply.withArgv { argc, argv, lengths in redisAppendCommandArgv(ctx, argc, argv, lengths) }
        if status == chiredis_ok() {
            status = command.withArgv { argc, argv, lengths in redisAppendCommandArgv(ctx, argc, argv, lengths) }
        }
        guard status == chiredis_ok() else { throw failConnection(ctx) }
        try flush()
    }

    static let skipReply = RedisCommand(["CLIENT", "REPLY", "SKIP"])
}
