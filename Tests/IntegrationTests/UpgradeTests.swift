import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// Users upgrade worker by worker: a worker of the previous release (built by
/// scripts/build-previous-release from this repository's history) and one of this release
/// must share queues, and either must recover the other's jobs.
@Suite("Upgrading from the previous release")
struct UpgradeTests {
    var previousBinary: String {
        get throws { try TestEnvironment.value("CONVEYOR_PREVIOUS_RELEASE_BINARY") }
    }

    func recordStats(_ db: PostgresConnection, prefix: String) throws -> (keys: Int, runs: Int) {
        let row = try #require(try db.query("SELECT count(*) AS keys, coalesce(sum(runs), 0) AS runs FROM conveyor_records WHERE key LIKE \(prefix + "%")").first)
        return (try row["keys"].int(), try row["runs"].int())
    }

    func push(_ redis: RedisConnection, count: Int, prefix: String) throws {
        try QueueClient(redis: redis).pushBulk((0..<count).map { JobPayload(className: "RecordJob", args: [.string("\(prefix)\($0)")]) })
    }

    @Test("a previous-release worker killed mid-run has its jobs recovered by a new one; old and new drain one queue side by side")
    func upgradeDrill() throws {
        let previous = try previousBinary
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "upgrade")
        try RecordJob.createTable(db)

        // 1. The old release's worker dies mid-run; the new release's recovers its lists.
        let total = 10_000
        try push(redis, count: total, prefix: "a-")
        let old = try ConveyorProcess(["worker", "-c", "10", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL, binary: previous)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try recordStats(db, prefix: "a-").keys >= total / 4 })
        old.kill9()
        let orphaned = try redis.command("HLEN", "conveyor:working-lists").int ?? 0
        #expect(orphaned > 0, "the old worker's lists are registered in the shared registry")
        let new = try ConveyorProcess(["worker", "-c", "10", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        // The old release's lease is 30 s; the new rescuer looks every 5 s.
        let complete = try TestEnvironment.eventually(timeout: .seconds(120)) { try recordStats(db, prefix: "a-").keys == total }
        let recovered = try recordStats(db, prefix: "a-")
        #expect(complete, "lost: \(total - recovered.keys) jobs of the killed old worker")
        #expect(new.log.contains("recovered jobs of dead processes"))
        #expect(try redis.command("KEYS", "conveyor:working:*").strings.allSatisfy { !$0.contains(":\(old.child.pid):") })

        // 2. Old and new side by side on one queue: nothing lost, nothing run twice.
        let shared = 10_000
        let newDoneBefore = new.log.components(separatedBy: "done jid=").count
        let oldAgain = try ConveyorProcess(["worker", "-c", "5", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL, binary: previous)
        try push(redis, count: shared, prefix: "b-")
        let drained = try TestEnvironment.eventually(timeout: .seconds(120)) { try recordStats(db, prefix: "b-").keys == shared }
        #expect(drained)
        #expect(oldAgain.terminate() == 0)
        #expect(new.terminate() == 0)
        let both = try recordStats(db, prefix: "b-")
        #expect(both.keys == shared)
        #expect(both.runs == shared, "\(both.runs - shared) jobs ran twice with old and new side by side")
        #expect(oldAgain.log.contains("done jid="), "the old worker took part")
        #expect(new.log.components(separatedBy: "done jid=").count > newDoneBefore, "the new worker took part")
        #expect(try redis.command("LLEN", "queue:default").int == 0)
        #expect(try redis.command("HLEN", "conveyor:working-lists").int == 0, "both stopped cleanly and deregistered")
        print("upgrade drill: old worker killed at \(orphaned) registered lists, \(recovered.runs - recovered.keys) re-run after its kill (old release acknowledges by batch), 0 lost; side by side: \(shared) jobs, 0 lost, 0 twice")
    }
}
