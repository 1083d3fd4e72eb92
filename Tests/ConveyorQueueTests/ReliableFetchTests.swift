import ConveyorJSON
import ConveyorRedis
import Testing
import TestSupport

@testable import ConveyorQueue

/// Each reliable-fetch script run directly against the Redis scripts/test started.
@Suite("Reliable fetch scripts")
struct ReliableFetchTests {
    func setUp(queues: [String] = ["default"], identity: String = "host:1:abc") throws -> (RedisConnection, ReliableFetch) {
        let (redis, _) = try TestEnvironment.isolatedRedis()
        return (redis, ReliableFetch(identity: identity, queues: queues))
    }

    func push(_ redis: RedisConnection, _ jobs: [String], queue: String = "default") throws {
        for job in jobs { try redis.command("LPUSH", "queue:\(queue)", job) }
    }

    func list(_ redis: RedisConnection, _ key: String) throws -> [String] {
        try redis.command("LRANGE", key, 0, -1).strings
    }

    func request(_ number: Int, limit: Int, order: [Int] = [0], collect: Int? = nil) -> ReliableFetch.FetchRequest {
        ReliableFetch.FetchRequest(number: number, order: order, limit: limit, collect: collect)
    }

    @Test("fetch moves the oldest jobs into the working list and returns them oldest first")
    func fetchMoves() throws {
        let (redis, fetch) = try setUp()
        try push(redis, ["a", "b", "c", "d"])
        let batch = try #require(try fetch.fetch(request(1, limit: 3), on: redis))
        #expect(batch == ReliableFetch.Batch(queueIndex: 0, jobs: Array("abc".map { Array(String($0).utf8) })))
        #expect(try list(redis, "queue:default") == ["d"])
        #expect(try list(redis, fetch.workingLists[0]) == ["c", "b", "a"])
        #expect(try fetch.fetch(request(2, limit: 10), on: redis)?.jobs.count == 1)
        #expect(try fetch.fetch(request(3, limit: 10), on: redis) == nil, "every queue empty")
    }

    @Test("a lost reply strands nothing: the same fetch sent again returns the same batch and takes no more")
    func lostReplyStrandsNothing() throws {
        let (redis, fetch) = try setUp()
        try push(redis, (0..<10).map { "job-\($0)" })
        let first = try #require(try fetch.fetch(request(7, limit: 4), on: redis))  // pretend its reply was lost
        let again = try #require(try fetch.fetch(request(7, limit: 4), on: redis))
        #expect(again == first)
        #expect(try redis.command("LLEN", "queue:default").int == 6)
        #expect(try redis.command("LLEN", fetch.workingLists[0]).int == 4)
        let next = try #require(try fetch.fetch(request(8, limit: 4), on: redis))
        #expect(next.jobs.map { String(decoding: $0, as: UTF8.self) } == ["job-4", "job-5", "job-6", "job-7"])
    }

    @Test("the batch returned again is right even after other jobs of the list were acknowledged")
    func retryAfterAcks() throws {
        let (redis, fetch) = try setUp()
        try push(redis, (0..<6).map { "job-\($0)" })
        let older = try #require(try fetch.fetch(request(1, limit: 3), on: redis))
        let lost = try #require(try fetch.fetch(request(2, limit: 3), on: redis))
        for raw in older.jobs { try redis.sendWithoutReply(fetch.acknowledgement(of: raw, queueIndex: 0)) }
        #expect(try fetch.fetch(request(2, limit: 3), on: redis) == lost)
    }

    @Test("a job an idle BLMOVE left in the landing list is collected by the next fetch, even if the BLMOVE reply was lost")
    func landingCollected() throws {
        let (redis, fetch) = try setUp()
        try push(redis, ["first", "second", "third"])
        #expect(try fetch.waitForJob(queueIndex: 0, timeout: .milliseconds(100), on: redis))
        #expect(try list(redis, fetch.landingLists[0]) == ["first"])
        let batch = try #require(try fetch.fetch(request(1, limit: 2, collect: 0), on: redis))
        #expect(batch.jobs.map { String(decoding: $0, as: UTF8.self) } == ["first", "second"])
        #expect(try list(redis, fetch.landingLists[0]).isEmpty)
        #expect(try list(redis, fetch.workingLists[0]) == ["second", "first"])
        #expect(try fetch.waitForJob(queueIndex: 0, timeout: .milliseconds(100), on: redis))
        #expect(try fetch.waitForJob(queueIndex: 0, timeout: .milliseconds(100), on: redis) == false, "queue empty: timed out")
        let last = try #require(try fetch.fetch(request(2, limit: 5, collect: 0), on: redis))
        #expect(last.jobs.map { String(decoding: $0, as: UTF8.self) } == ["third"])
    }

    @Test("strict order takes from the first non-empty queue; a batch holds jobs of one queue")
    func queueOrder() throws {
        let (redis, fetch) = try setUp(queues: ["critical", "default", "low"])
        try push(redis, ["d1", "d2"], queue: "default")
        try push(redis, ["l1"], queue: "low")
        let batch = try #require(try fetch.fetch(request(1, limit: 10, order: [0, 1, 2]), on: redis))
        #expect(batch.queueIndex == 1)
        #expect(batch.jobs.count == 2)
        let low = try #require(try fetch.fetch(request(2, limit: 10, order: [2, 0, 1]), on: redis))
        #expect(low.queueIndex == 2)
    }

    @Test("an acknowledgement removes the job without a reply; acknowledging a job another process recovered is harmless")
    func acknowledgement() throws {
        let (redis, fetch) = try setUp()
        try push(redis, ["a", "b"])
        let batch = try #require(try fetch.fetch(request(1, limit: 2), on: redis))
        try redis.sendWithoutReply(fetch.acknowledgement(of: batch.jobs[0], queueIndex: 0))
        #expect(try redis.command("PING").string == "PONG", "no reply was left unread before this one")
        #expect(try list(redis, fetch.workingLists[0]) == ["b"])
        // The process is taken for dead: its list goes back to the queue...
        for command in fetch.registrationCommands(lease: .seconds(30)) { try redis.send(command) }
        try redis.command("DEL", ReliableFetch.alive(fetch.identity))
        #expect(try ReliableFetch.recoverOrphans(on: redis) == 1)
        // ...and its late acknowledgement of "b" touches nothing else.
        try redis.sendWithoutReply(fetch.acknowledgement(of: batch.jobs[1], queueIndex: 0))
        #expect(try redis.command("PING").string == "PONG")
        #expect(try list(redis, "queue:default") == ["b"])
    }

    @Test("push back returns unstarted jobs to the front of their queue in order, only those still held")
    func pushBack() throws {
        let (redis, fetch) = try setUp(queues: ["default", "other"])
        try push(redis, ["a", "b", "c", "d"])
        try push(redis, ["x"], queue: "other")
        let batch = try #require(try fetch.fetch(request(1, limit: 3), on: redis))
        let other = try #require(try fetch.fetch(request(2, limit: 3, order: [1, 0]), on: redis))
        var unstarted = batch.jobs.dropFirst().map { DispatchBook.Job(raw: $0, queueIndex: 0) }
        unstarted.append(DispatchBook.Job(raw: other.jobs[0], queueIndex: 1))
        unstarted.append(DispatchBook.Job(raw: Array("never-fetched".utf8), queueIndex: 0))
        #expect(try fetch.pushBack(unstarted, on: redis) == 3)
        // RPOP order: b, c are next to run, then d.
        #expect(try redis.command("RPOP", "queue:default", 10).strings == ["b", "c", "d"])
        #expect(try list(redis, "queue:other") == ["x"])
        #expect(try list(redis, fetch.workingLists[0]) == ["a"], "the started job stays until it finishes")
    }

    @Test("release at a graceful stop moves everything left back, oldest next, and removes lists and registry entries")
    func releaseAll() throws {
        let (redis, fetch) = try setUp()
        try push(redis, ["a", "b", "c", "d"])
        for command in fetch.registrationCommands(lease: .seconds(30)) { try redis.send(command) }
        _ = try fetch.fetch(request(1, limit: 2), on: redis)
        _ = try fetch.waitForJob(queueIndex: 0, timeout: .milliseconds(100), on: redis)  // "c" landed
        #expect(try fetch.releaseAll(on: redis) == 3)
        #expect(try redis.command("RPOP", "queue:default", 10).strings == ["a", "b", "c", "d"])
        #expect(try redis.command("KEYS", "conveyor:working:*").strings.isEmpty)
        #expect(try redis.command("KEYS", "conveyor:landing:*").strings.isEmpty)
        #expect(try redis.command("EXISTS", fetch.fetchRecord).int == 0)
        for command in fetch.deregistrationCommands() { try redis.send(command) }
        #expect(try redis.command("HLEN", ReliableFetch.registry).int == 0)
        #expect(try redis.command("EXISTS", ReliableFetch.alive(fetch.identity)).int == 0)
    }

    @Test("recovery moves the lists of processes whose lease lapsed, including the first release's, and leaves live ones alone")
    func recovery() throws {
        let (redis, live) = try setUp(identity: "host:1:live")
        let dead = ReliableFetch(identity: "host:2:dead", queues: ["default"])
        try push(redis, ["l1", "d1", "d2"])
        for command in live.registrationCommands(lease: .seconds(30)) + dead.registrationCommands(lease: .seconds(30)) { try redis.send(command) }
        _ = try live.fetch(request(1, limit: 1), on: redis)
        _ = try dead.fetch(request(1, limit: 2), on: redis)
        // A worker of the first release: working list per processor and generation.
        let oldList = "conveyor:working:host:3:old:4:1:default"
        try redis.command("LPUSH", oldList, "o1")
        try redis.command("HSET", ReliableFetch.registry, oldList, "host:3:old\tdefault")
        try redis.command("DEL", ReliableFetch.alive(dead.identity))
        #expect(try ReliableFetch.recoverOrphans(on: redis) == 3)
        #expect(Set(try list(redis, "queue:default")) == ["d1", "d2", "o1"])
        #expect(try list(redis, live.workingLists[0]) == ["l1"])
        #expect(try redis.command("HEXISTS", ReliableFetch.registry, dead.workingLists[0]).int == 0)
        #expect(try redis.command("HEXISTS", ReliableFetch.registry, live.workingLists[0]).int == 1)
        #expect(try redis.command("EXISTS", dead.fetchRecord).int == 0)
        #expect(try redis.command("SISMEMBER", "queues", "default").int == 1)
    }

    @Test("a failure moves the job to retry or dead (trimmed) in one step")
    func failure() throws {
        let (redis, fetch) = try setUp()
        try push(redis, ["a", "b", "c"])
        let batch = try #require(try fetch.fetch(request(1, limit: 3), on: redis))
        try fetch.fail(batch.jobs[0], queueIndex: 0, to: .retry(payload: Array("a-retry".utf8), at: 100), on: redis)
        try redis.command("ZADD", "dead", 1, "ancient")
        try fetch.fail(batch.jobs[1], queueIndex: 0, to: .dead(payload: Array("b-dead".utf8), now: 1000, cutoff: 10, maxJobs: 10), on: redis)
        try fetch.fail(batch.jobs[2], queueIndex: 0, to: .discard, on: redis)
        #expect(try redis.command("ZRANGE", "retry", 0, -1, "WITHSCORES").strings == ["a-retry", "100"])
        #expect(try redis.command("ZRANGE", "dead", 0, -1).strings == ["b-dead"], "trimmed by age")
        #expect(try list(redis, fetch.workingLists[0]).isEmpty)
    }

    @Test("steal claims hold only entries this call removed, and give back puts the failed job first")
    func claims() throws {
        let (redis, _) = try setUp()
        let claim = ReliableFetch.Claim(identity: "steal:x", queue: "background_migration")
        try claim.register(on: redis)
        try push(redis, ["j1", "j2", "j3"], queue: "background_migration")
        let flags = try claim.claim([Array("j1".utf8), Array("gone".utf8), Array("j2".utf8)], from: "queue:background_migration", sorted: false, on: redis)
        #expect(flags == [true, false, true])
        #expect(try list(redis, claim.list) == ["j1", "j2"])
        try claim.giveBack(failed: Array("j1-failed".utf8), unstarted: [Array("j2".utf8)], on: redis)
        #expect(try redis.command("RPOP", "queue:background_migration", 10).strings == ["j2", "j3", "j1-failed"])
        #expect(try redis.command("EXISTS", claim.list).int == 0)
        claim.release(on: redis)
        #expect(try redis.command("HEXISTS", ReliableFetch.registry, claim.list).int == 0)
    }

    @Test("the doorbell's prefixes drop overlapping ones (Redis refuses them)")
    func doorbellPrefixes() {
        #expect(QueueDoorbell.broadcastPrefixes(["queue:mailers", "queue:mail", "queue:default", "queue:mail"]) == ["queue:default", "queue:mail"])
    }
}
