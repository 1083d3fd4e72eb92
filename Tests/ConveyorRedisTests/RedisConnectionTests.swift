import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("Redis connection against a real server")
struct RedisConnectionTests {
    @Test("a value with NUL bytes round-trips byte for byte")
    func binarySafeValue() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let value: [UInt8] = [0, 1, 2, 0, 255, 0x0D, 0x0A, 0, 42]
        var set = RedisCommand("SET")
        set.append(bytes: [0x6B, 0, 0x6B])  // a key with a NUL too
        set.append(bytes: value)
        try redis.send(set)
        var get = RedisCommand("GET")
        get.append(bytes: [0x6B, 0, 0x6B])
        #expect(try redis.send(get) == .bulkString(value))
        #expect(try redis.command("STRLEN", [UInt8]([0x6B, 0, 0x6B])).int == value.count)
    }

    @Test("a 1 MB value round-trips intact")
    func megabyteValue() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let value = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try redis.command("SET", "big", value)
        let reply = try redis.command("GET", "big")
        #expect(reply.bytes?.count == value.count)
        #expect(reply.bytes == value)
    }

    @Test("10,000 pipelined commands come back in order")
    func pipelineTenThousand() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let commands = (0..<10_000).map { i -> RedisCommand in
            var c = RedisCommand("RPUSH")
            c.append("list")
            c.append(i)
            return c
        }
        let replies = try redis.pipeline(commands)
        #expect(replies.count == 10_000)
        #expect(replies.enumerated().allSatisfy { $0.element == .integer(Int64($0.offset + 1)) })
        let all = try redis.command("LRANGE", "list", 0, -1).strings
        #expect(all == (0..<10_000).map(String.init))
    }

    @Test("WRONGTYPE is recognised and the connection stays usable")
    func wrongType() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        try redis.command("SET", "s", "x")
        let error = #expect(throws: RedisError.self) { try redis.command("LPUSH", "s", "y") }
        #expect(error?.isWrongType == true)
        #expect(error?.code == .server)
        #expect(try redis.command("GET", "s").string == "x")
    }

    @Test("NOSCRIPT is recognised, and evaluate() recovers from it by loading the script")
    func noScript() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let script = RedisScript("return tonumber(ARGV[1]) * 2 + #KEYS")
        try redis.command("SCRIPT", "FLUSH")
        let error = #expect(throws: RedisError.self) { try redis.command("EVALSHA", script.sha1, 0) }
        #expect(error?.isNoScript == true)
        #expect(try redis.evaluate(script, keys: ["a", "b"], arguments: [20]) == .integer(42))
        // Now cached server-side: the EVALSHA path works directly.
        #expect(try redis.command("EVALSHA", script.sha1, 0, 5) == .integer(10))
    }

    @Test("the script SHA-1 matches the server's")
    func scriptDigest() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let script = RedisScript("return redis.call('PING')")
        #expect(try redis.command("SCRIPT", "LOAD", script.source).string == script.sha1)
    }

    @Test("every RESP2 reply type is represented")
    func replyTypes() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        #expect(try redis.command("PING") == .status("PONG"))
        #expect(try redis.command("GET", "missing") == .null)
        #expect(try redis.command("INCR", "n") == .integer(1))
        try redis.command("RPUSH", "l", "a", "b")
        #expect(try redis.command("LRANGE", "l", 0, -1) == .array([.bulkString(Array("a".utf8)), .bulkString(Array("b".utf8))]))
        // An error nested in a transaction's reply stays a value.
        try redis.command("MULTI")
        try redis.command("SET", "str", "x")
        try redis.command("LPUSH", "str", "y")
        let exec = try redis.command("EXEC")
        #expect(exec.array?.count == 2)
        #expect(exec.array?[1].error?.isWrongType == true)
        #expect(try redis.command("EVAL", "return {1, 'two', false, {3}}", 0)
            == .array([.integer(1), .bulkString(Array("two".utf8)), .null, .array([.integer(3)])]))
    }

    @Test("pipelined errors are returned in place without hiding the other replies")
    func pipelineErrors() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        try redis.command("SET", "s", "x")
        var bad = RedisCommand("LPUSH"); bad.append("s"); bad.append("y")
        var good = RedisCommand("GET"); good.append("s")
        let replies = try redis.pipeline([good, bad, good])
        #expect(replies[0].string == "x")
        #expect(replies[1].error?.isWrongType == true)
        #expect(replies[2].string == "x")
    }

    @Test("appended commands can be flushed now and their replies read later")
    func deferredReplies() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        var incr = RedisCommand("INCR"); incr.append("c")
        try redis.append(incr)
        try redis.append(incr)
        try redis.flush()
        #expect(redis.pendingReplies == 2)
        #expect(try redis.readReply() == .integer(1))
        #expect(try redis.readReply() == .integer(2))
        #expect(try redis.command("GET", "c").int == 2)
    }

    @Test("a blocking BLMOVE waits for its own timeout, not the command timeout")
    func blockingCommand() throws {
        let (_, url) = try TestEnvironment.isolatedRedis()
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = .milliseconds(200)
        let redis = try RedisConnection(configuration)
        var blmove = RedisCommand("BLMOVE")
        for a in ["src", "dst", "RIGHT", "LEFT", "0.6"] { blmove.append(a) }
        let start = ContinuousClock.now
        #expect(try redis.sendBlocking(blmove, blockFor: .milliseconds(600)) == .null)
        #expect(ContinuousClock.now - start >= .milliseconds(550))
        // A value pushed by someone else is moved atomically.
        let other = try RedisConnection(url: url)
        try other.command("LPUSH", "src", "job")
        #expect(try redis.sendBlocking(blmove, blockFor: .milliseconds(600)).string == "job")
        #expect(try other.command("LRANGE", "dst", 0, -1).strings == ["job"])
    }

    @Test("a command that outlives the command timeout fails as a timeout, then the connection recovers")
    func commandTimeout() throws {
        let server = try PrivateRedisServer(extraArguments: ["--enable-debug-command", "yes"])
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        let redis = try RedisConnection(configuration)
        let error = #expect(throws: RedisError.self) { try redis.command("DEBUG", "SLEEP", "0.6") }
        #expect(error?.code == .timeout)
        #expect(error?.isConnectionProblem == true)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try redis.command("PING") == .status("PONG"))
        #expect(redis.reconnectCount == 1)
    }

    @Test("AUTH with an ACL user and SELECT of the URL's database")
    func authAndSelect() throws {
        let server = try PrivateRedisServer()
        let admin = try RedisConnection(url: server.url)
        try admin.command("ACL", "SETUSER", "worker", "on", ">s3cr#t pass", "~*", "+@all")
        let encoded = "s3cr%23t%20pass"
        let redis = try RedisConnection(url: "redis://worker:\(encoded)@127.0.0.1:\(server.port)/3")
        #expect(try redis.command("ACL", "WHOAMI").string == "worker")
        try redis.command("SET", "where", "db3")
        try admin.command("SELECT", 3)
        #expect(try admin.command("GET", "where").string == "db3")
        let refused = #expect(throws: RedisError.self) {
            try RedisConnection(url: "redis://worker:wrong@127.0.0.1:\(server.port)/0")
        }
        #expect(refused?.code == .connectionFailed)
        #expect(refused?.message.contains("WRONGPASS") == true)
    }

    @Test("after redis-server restarts, the next command reconnects with backoff")
    func reconnectAfterRestart() throws {
        let server = try PrivateRedisServer()
        let redis = try RedisConnection(url: server.url)
        try redis.command("SET", "before", "1")
        server.stop()
        let lost = #expect(throws: RedisError.self) { try redis.command("PING") }
        #expect(lost?.isConnectionProblem == true)
        // Restart a moment later; the reconnect loop keeps trying meanwhile.
        let restarter = Thread {
            Thread.sleep(forTimeInterval: 0.4)
            try? server.start()
        }
        restarter.start()
        #expect(try redis.command("PING") == .status("PONG"))
        #expect(redis.reconnectCount >= 1)
    }

    @Test("a server that is down fails fast with connectionFailed")
    func serverDown() throws {
        let port = try PrivateRedisServer.freePort()
        let start = ContinuousClock.now
        let error = #expect(throws: RedisError.self) { try RedisConnection(url: "redis://127.0.0.1:\(port)/0") }
        #expect(error?.code == .connectionFailed)
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test("a unix socket URL connects")
    func unixSocket() throws {
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-\(getpid()).sock").path
        let server = try PrivateRedisServer(extraArguments: ["--unixsocket", socketPath])
        _ = server
        let redis = try RedisConnection(url: "unix://\(socketPath)?db=2")
        #expect(try redis.command("PING") == .status("PONG"))
    }
}
