/// A Lua script run with `EVALSHA`; its SHA-1 is computed locally so the first call needs
/// no `SCRIPT LOAD` round trip.
public struct RedisScript: Sendable, Hashable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}

extension RedisConnection {
    /// Runs `script` with `EVALSHA`; on `NOSCRIPT` (a restarted or flushed server) it
    /// falls back to `EVAL`, which also caches the script for next time.
    /// `arguments` appends `numkeys`, the keys and the arguments.
    @discardableResult
    public func evaluate(_ script: RedisScript, _ arguments: (inout RedisCommand) -> Void) throws(RedisError) -> RedisReply {
        var command = RedisCommand("EVALSHA")
        command.append(script.sha1)
        arguments(&command)
        do {
            let reply = try send(command)
            loadedScripts.insert(script.sha1)
            return reply
        } catch where error.isNoScript {
            var eval = RedisCommand("EVAL")
            eval.append(script.source)
            arguments(&eval)
            let reply = try send(eval)
            loadedScripts.insert(script.sha1)
            return reply
        }
    }

    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [any RedisArgumentConvertible] = []) throws(RedisError) -> RedisReply {
        try evaluate(script) { command in
            command.append(keys.count)
            for key in keys { command.append(key) }
            for argument in arguments { argument.appendRedisArgument(to: &command) }
        }
    }

    /// Makes sure the server has the script cached, so a pipeline may `EVALSHA` it.
    public func load(_ script: RedisScript) throws(RedisError) {
        guard !loadedScripts.contains(script.sha1) else { return }
        var command = RedisCommand("SCRIPT")
        command.append("LOAD")
        command.append(script.source)
        _ = try send(command)
        loadedScripts.insert(script.sha1)
    }

    /// An `EVALSHA` command for use in a pipeline, after `load(_:)`.
    public static func evalshaCommand(_ script: RedisScript, _ arguments: (inout RedisCommand) -> Void) -> RedisCommand {
        var command = RedisCommand("EVALSHA")
        command.append(script.sha1)
        arguments(&command)
        return command
    }
}
