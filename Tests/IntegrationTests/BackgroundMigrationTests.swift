import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("Non-batched background migrations: remaining, steal, pending")
struct BackgroundMigrationTests {
    @Test("remaining counts BackgroundMigrationWorker jobs in the queue and scheduled set, per class and in total (jobs from Ruby's Sidekiq client)")
    func remainingCounts() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        func ruby(_ args: String...) throws { #expect(try ProcessRunner.ruby("sidekiq_peer.rb", args, redisURL: redisURL).status == 0) }
        for i in 0..<3 { try ruby("push_migration", "CopyColumn", "[\"t\",\"a\",\"b\",\(i),\(i)]") }
        for i in 0..<2 { try ruby("push_migration", "CopyColumn", "[\"t\",\"a\",\"b\",\(i),\(i)]", "3600") }
        try ruby("push_migration", "OtherMigration", "[1]")
        try ruby("push_migration", "OtherMigration", "[2]", "600")
        let client = QueueClient(redis: redis)
        try client.push(BackgroundMigrationWorker.payload(migration: "OtherMigration", arguments: [3]))
        // Not ours: other classes, other queues; retry/dead only in the breakdown.
        try client.enqueue("NoopJob", queue: "background_migration")
        try client.enqueue("NoopJob")
        var dead = BackgroundMigrationWorker.payload(migration: "CopyColumn", arguments: [9])
        dead.object["error_message"] = "x"
        try redis.command("ZADD", "dead", 1, dead.json)
        try redis.command("ZADD", "retry", 1, BackgroundMigrationWorker.payload(migration: "CopyColumn", arguments: [10]).json)

        func remaining(_ args: String...) throws -> String {
            let output = try ProcessRunner.conveyor(["remaining"] + args, redisURL: redisURL)
            #expect(output.status == 0, "\(output.stderr)")
            return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try remaining() == "8")
        #expect(try remaining("CopyColumn") == "5")
        #expect(try remaining("OtherMigration") == "3")
        #expect(try remaining("Unknown") == "0")
        let json = try JSONValue.parse(try remaining("CopyColumn", "--json"))
        #expect(json["queued"]?.intValue == 3)
        #expect(json["scheduled"]?.intValue == 2)
        #expect(json["retry"]?.intValue == 1)
        #expect(json["dead"]?.intValue == 1)
        #expect(json["remaining"]?.intValue == 5)
    }

    @Test("steal drains hundreds of queued and scheduled jobs while a live worker consumes the same queue; every row is updated exactly once")
    func stealWithLiveWorker() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "steal")
        try MigrationFixtures.createEvents(db, rows: 4000)
        // 400 jobs of 10 rows: half scheduled (due at once), half straight in the queue.
        let schedule = try ProcessRunner.conveyor(
            ["enqueue-range", "CopyColumn", "events", #"["events","id","id_convert_to_bigint"]"#, "--batch-size", "10", "--delay", "0", "--track"],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(schedule.status == 0, "\(schedule.stderr)")
        #expect(schedule.stdout.contains("Scheduled 400 CopyColumn jobs"))
        let scheduled = try redis.command("ZRANGE", "schedule", 0, -1).strings
        #expect(scheduled.count == 400)
        let client = QueueClient(redis: redis)
        for member in scheduled.prefix(200) {
            try redis.command("ZREM", "schedule", member)
            try client.push(try #require(try? { () throws -> JobPayload in
                guard case .success(let p) = JobPayload.decode(Array(member.utf8)) else { throw CancellationError() }
                return p
            }()))
        }
        #expect(try ProcessRunner.conveyor(["remaining", "CopyColumn"], redisURL: redisURL).stdout.hasPrefix("400"))
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "background_migration"], redisURL: redisURL, databaseURL: databaseURL)
        let steal = try ProcessRunner.conveyor(["steal", "CopyColumn", "--json"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(steal.status == 0, "\(steal.stderr)")
        let stolen = try JSONValue.parse(steal.stdout)["performed"]?.intValue ?? 0
        #expect(try TestEnvironment.eventually { try ProcessRunner.conveyor(["remaining"], redisURL: redisURL).stdout.hasPrefix("0") })
        #expect(try TestEnvironment.eventually { try MigrationFixtures.copyState(db).wrong == 0 })
        #expect(worker.terminate() == 0)
        let state = try MigrationFixtures.copyState(db)
        #expect(state == .init(rows: 4000, wrong: 0, notExactlyOnce: 0), "some row was updated twice or never")
        #expect(stolen > 0 && stolen <= 400)
        #expect(try BackgroundMigrationTracking.pendingCount(className: "CopyColumn", db) == 0)
        print("steal with a live worker: steal ran \(stolen) of 400 jobs, the worker the rest, every row updated exactly once")
    }

    @Test("a failing stolen job goes back to Redis and steal exits non-zero naming the cause")
    func stealFailure() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "stealfail")
        try MigrationFixtures.createEvents(db, rows: 20)
        let client = QueueClient(redis: redis)
        try client.push(BackgroundMigrationWorker.payload(migration: "CopyColumn", arguments: ["events", "id", "id_convert_to_bigint", 1, 10]))
        let bad = BackgroundMigrationWorker.payload(migration: "CopyColumn", arguments: ["events", "id", "no_such_column", 11, 15])
        try client.push(bad)
        let after = BackgroundMigrationWorker.payload(migration: "CopyColumn", arguments: ["events", "id", "id_convert_to_bigint", 16, 20])
        try client.push(after)
        let steal = try ProcessRunner.conveyor(["steal"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(steal.status == 1)
        #expect(steal.stderr.contains("no_such_column"), "\(steal.stderr)")
        #expect(steal.stderr.contains("put back"))
        // The failed job and the one claimed with it but not run are back in the queue.
        let queued = try redis.command("LRANGE", "queue:background_migration", 0, -1).strings.map { try JSONValue.parse($0) }
        #expect(Set(queued.compactMap { $0["jid"]?.stringValue }) == [bad.jid, after.jid])
        #expect(queued.first { $0["jid"]?.stringValue == bad.jid }?["args"] == bad.object["args"])
        #expect(try redis.command("HLEN", "conveyor:working-lists").int == 0)
        #expect(try redis.command("KEYS", "conveyor:working:*").strings.isEmpty)
        #expect(try MigrationFixtures.copyState(db).wrong == 10)  // only the first job ran
    }

    @Test("pending --run finishes tracked jobs whose Redis entries were lost")
    func pendingRun() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "pending")
        try MigrationFixtures.createEvents(db, rows: 500)
        let schedule = try ProcessRunner.conveyor(
            ["enqueue-range", "CopyColumn", "events", #"["events","id","id_convert_to_bigint"]"#, "--batch-size", "100", "--delay", "60", "--track"],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(schedule.status == 0, "\(schedule.stderr)")
        try redis.command("FLUSHDB")  // the Redis entries are lost
        #expect(try ProcessRunner.conveyor(["remaining"], redisURL: redisURL).stdout.hasPrefix("0"))
        let count = try ProcessRunner.conveyor(["pending", "CopyColumn"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
        let run = try ProcessRunner.conveyor(["pending", "--run"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Running pending job 'CopyColumn' with arguments [\"events\",\"id\",\"id_convert_to_bigint\",1,100]"))
        #expect(run.stdout.contains("5 pending jobs performed"))
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 500, wrong: 0, notExactlyOnce: 0))
        #expect(try ProcessRunner.conveyor(["pending"], redisURL: redisURL, databaseURL: databaseURL).stdout.hasPrefix("0"))
    }

    @Test("enqueue-range schedules one job per key batch at increasing times, like GitLab's helper")
    func enqueueRange() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "range")
        try MigrationFixtures.createEvents(db, rows: 25)
        try db.execute("DELETE FROM events WHERE id BETWEEN 5 AND 14")  // a gap
        let before = Date().timeIntervalSince1970
        let output = try ProcessRunner.conveyor(
            ["enqueue-range", "CopyColumn", "events", #"["events","id","id_convert_to_bigint"]"#, "--batch-size", "5", "--delay", "120", "--initial-delay", "30"],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        let entries = try redis.command("ZRANGE", "schedule", 0, -1, "WITHSCORES").strings
        var jobs: [(JSONValue, Double)] = []
        for i in stride(from: 0, to: entries.count, by: 2) { jobs.append((try JSONValue.parse(entries[i]), Double(entries[i + 1])!)) }
        #expect(jobs.map { $0.0["args"]?[1]?.arrayValue?.suffix(2).map { $0.intValue ?? -1 } ?? [] } == [[1, 15], [16, 20], [21, 25]])  // keys 1-4 and 15-25 remain: 5 rows per batch
        #expect(jobs.allSatisfy { $0.0["class"]?.stringValue == "BackgroundMigrationWorker" && $0.0["queue"]?.stringValue == "background_migration" && $0.0["retry"]?.intValue == 3 })
        for (index, job) in jobs.enumerated() {
            let expected = before + 30 + 120 * Double(index + 1)
            #expect(abs(job.1 - expected) < 10)
        }
        let unknown = try ProcessRunner.conveyor(["enqueue-range", "NoSuchMigration", "events", "--batch-size", "5"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no background migration 'NoSuchMigration'"))
    }
}
