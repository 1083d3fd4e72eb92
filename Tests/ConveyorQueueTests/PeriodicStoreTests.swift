import ConveyorJSON
import ConveyorRedis
import Testing
import TestSupport

@testable import ConveyorQueue

/// The periodic scripts run directly against the Redis scripts/test started.
@Suite("Periodic store scripts")
struct PeriodicStoreTests {
    func entry(_ name: String = "tick", cron: String = "* * * * * *", extra: [(String, JSONValue)] = []) throws -> PeriodicEntry {
        try PeriodicEntry(name: name, fields: [("cron", .string(cron)), ("class", "NoopJob"), ("args", [1])] + extra, knownClasses: nil)
    }

    func serverNow(_ redis: RedisConnection) throws -> Int64 {
        Int64(try redis.command("TIME").array?.first?.string ?? "0")!
    }

    @Test("one claim per tick enqueues; the same or an older tick again is taken, by anyone")
    func claimOnce() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry()
        let tick = try serverNow(redis)
        let (first, _) = try PeriodicStore.claim(e, tick: tick, baseline: tick - 1, missed: 0, now: Double(tick), on: redis)
        guard case .enqueued(let jid) = first else { Issue.record("not enqueued: \(first)"); return }
        #expect(try PeriodicStore.claim(e, tick: tick, baseline: tick - 1, missed: 0, now: Double(tick), on: redis).0 == .taken(lastTick: tick))
        #expect(try PeriodicStore.claim(e, tick: tick - 5, baseline: tick - 6, missed: 0, now: Double(tick), on: redis).0 == .taken(lastTick: tick))
        let queued = try redis.command("LRANGE", "queue:default", 0, -1).strings
        #expect(queued.count == 1 && queued.first?.contains(jid) == true)
        #expect(try redis.command("SISMEMBER", "queues", "default").int == 1)
        #expect(try PeriodicStore.lastTicks(["tick", "other"], on: redis) == ["tick": tick])
    }

    @Test("a tick the server's clock has not reached is refused as early")
    func early() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let tick = try serverNow(redis) + 30
        #expect(try PeriodicStore.claim(try entry(), tick: tick, baseline: 0, missed: 0, now: Double(tick), on: redis).0 == .early)
        #expect(try redis.command("LLEN", "queue:default").int == 0)
    }

    @Test("a paused entry's ticks are claimed and skipped; resumed, the next tick enqueues; unknown names are refused")
    func pauseResume() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry()
        try PeriodicStore.publish([e], on: redis)
        #expect(try PeriodicStore.setPaused("tick", true, on: redis))
        #expect(try !PeriodicStore.setPaused("nope", true, on: redis))
        let tick = try serverNow(redis)
        #expect(try PeriodicStore.claim(e, tick: tick - 1, baseline: tick - 2, missed: 0, now: Double(tick), on: redis).0 == .paused)
        #expect(try PeriodicStore.setPaused("tick", false, on: redis))
        if case .enqueued = try PeriodicStore.claim(e, tick: tick, baseline: tick - 1, missed: 0, now: Double(tick), on: redis).0 {} else {
            Issue.record("the resumed entry did not enqueue")
        }
        let status = try #require(try PeriodicStatus.all(on: redis, now: Double(tick)).first)
        #expect(status.enqueued == 1 && status.skippedPaused == 1 && !status.paused && status.lastTick == tick)
    }

    @Test("missed ticks are counted once, by the claim that passed over them")
    func missed() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry()
        let tick = try serverNow(redis)
        _ = try PeriodicStore.claim(e, tick: tick - 10, baseline: tick - 11, missed: 0, now: Double(tick), on: redis)
        _ = try PeriodicStore.claim(e, tick: tick, baseline: tick - 10, missed: 9, now: Double(tick), on: redis)
        _ = try PeriodicStore.claim(e, tick: tick, baseline: tick - 10, missed: 9, now: Double(tick), on: redis)  // taken: not counted
        try PeriodicStore.publish([e], on: redis)
        #expect(try PeriodicStatus.all(on: redis, now: Double(tick)).first?.missed == 9)
    }

    @Test("a unique entry whose job is still pending skips its tick")
    func uniqueEntry() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry(extra: [("unique_for", 600)])
        let tick = try serverNow(redis)
        guard case .enqueued(let jid) = try PeriodicStore.claim(e, tick: tick - 1, baseline: tick - 2, missed: 0, now: Double(tick), on: redis).0 else {
            Issue.record("the first tick did not enqueue")
            return
        }
        #expect(try PeriodicStore.claim(e, tick: tick, baseline: tick - 1, missed: 0, now: Double(tick), on: redis).0 == .duplicate(heldBy: jid))
        #expect(try redis.command("LLEN", "queue:default").int == 1)
    }

    @Test("published definitions read back; entries nobody publishes any more are forgotten")
    func publish() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry("report", cron: "0 3 * * * Europe/Berlin", extra: [("description", "nightly")])
        try PeriodicStore.publish([e], on: redis)
        #expect(try PeriodicStore.entry("report", on: redis) == e)
        #expect(try PeriodicStore.entry("missing", on: redis) == nil)
        try redis.command("ZADD", PeriodicStore.seen, 1, "report")  // published long ago
        try PeriodicStore.publish([try entry("other")], on: redis)
        #expect(try PeriodicStore.entry("report", on: redis) == nil)
        #expect(try PeriodicStatus.all(on: redis, now: 0).map(\.name) == ["other"])
    }

    @Test("enqueue now pushes the entry's job without touching its ticks")
    func enqueueNow() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let e = try entry()
        guard case .enqueued(let jid) = try PeriodicStore.enqueueNow(e, now: 100, on: redis) else { Issue.record("not enqueued"); return }
        #expect(try redis.command("LRANGE", "queue:default", 0, -1).strings.first?.contains(jid) == true)
        #expect(try PeriodicStore.lastTicks(["tick"], on: redis).isEmpty)
    }
}

@Suite("Unique lock scripts")
struct UniqueLockTests {
    @Test("the first push takes the lock and enqueues; a second is refused and names the holder; release frees it")
    func pushAndRelease() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        let options = try UniqueOptions(seconds: 60)
        let first = try client.enqueueUnique("RecordJob", args: ["k"], unique: options)
        let jid = try #require(first.jid)
        guard case .duplicate(let holder, let left) = try client.enqueueUnique("RecordJob", args: ["k"], unique: options) else {
            Issue.record("the second push was enqueued")
            return
        }
        #expect(holder == jid && left > 50 && left <= 60)
        #expect(try client.enqueueUnique("RecordJob", args: ["k"], queue: "other", unique: options).jid != nil, "another queue is another job")
        #expect(try redis.command("LLEN", "queue:default").int == 1)
        let payload = try JobPayload.decode(try #require(try redis.command("LINDEX", "queue:default", 0).bytes)).get()
        let lock = try #require(UniqueLock(payload: payload))
        #expect(try !UniqueLock(key: lock.key, jid: "someone-else", until: .success).release(on: redis), "only the holder releases")
        #expect(try lock.release(on: redis))
        #expect(try client.enqueueUnique("RecordJob", args: ["k"], unique: options).jid != nil)
    }

    @Test("a scheduled unique job goes to the schedule set and holds the lock for its delay too")
    func scheduled() throws {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        let now = Timestamp.now()
        let pushed = try client.enqueueUnique("NoopJob", at: now + 120, unique: try UniqueOptions(seconds: 60))
        #expect(pushed.jid != nil)
        #expect(try redis.command("ZCARD", "schedule").int == 1 && redis.command("LLEN", "queue:default").int == 0)
        let key = UniqueLock.prefix + UniqueLock.digest(className: "NoopJob", queue: "default", args: [])
        #expect(try redis.command("PTTL", key).int ?? 0 > 170_000)
        if case .enqueued = try client.enqueueUnique("NoopJob", unique: try UniqueOptions(seconds: 60)) { Issue.record("duplicate of a scheduled job enqueued") }
    }
}
