import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// Conveyor against Sidekiq 6.4's own Ruby client and API on a real Redis.
@Suite("Sidekiq interop")
struct QueueInteropTests {
    func records(_ db: PostgresConnection) throws -> [String: Int] {
        guard try db.query("SELECT to_regclass('conveyor_records') IS NOT NULL AS present").first?["present"].bool() == true else { return [:] }
        var result: [String: Int] = [:]
        for row in try db.query("SELECT key, runs FROM conveyor_records") { result[try row["key"].string()] = try row["runs"].int() }
        return result
    }

    @Test("jobs pushed by Ruby's Sidekiq::Client, queued and scheduled, run exactly once across two workers")
    func rubyPushedJobsRunOnce() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "interop")
        try RecordJob.createTable(db)
        let push = try ProcessRunner.ruby("sidekiq_peer.rb", ["push", "300", "rb", "100"], redisURL: redisURL)
        #expect(push.status == 0, "\(push.stderr)")
        let jids = try JSONValue.parse(push.stdout).arrayValue ?? []
        #expect(jids.count == 400)
        #expect(try redis.command("ZCARD", "schedule").int == 100)

        let a = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        let b = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        let done = try TestEnvironment.eventually(timeout: .seconds(60)) { try records(db).count == 400 }
        let ran = try records(db).count
        #expect(done, "only \(ran) of 400 jobs ran")
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)
        let runs = try records(db)
        #expect(runs.values.allSatisfy { $0 == 1 }, "some job ran twice: \(runs.filter { $0.value != 1 })")
        #expect(Set(runs.keys) == Set((0..<300).map { "rb-\($0)" } + (0..<100).map { "rb-s\($0)" }))
        #expect(try redis.command("ZCARD", "schedule").int == 0)
        #expect(try redis.command("LLEN", "queue:default").int == 0)
        #expect(a.log.contains("class=RecordJob"))
    }

    @Test("jobs pushed by conveyor enqueue are read correctly by Sidekiq's Ruby API")
    func conveyorEnqueueReadByRuby() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let now = Date().timeIntervalSince1970
        let queued = try ProcessRunner.conveyor(["enqueue", "HardJob", #"[1, "two", {"three": 3.5}]"#, "--queue", "critical"], redisURL: redisURL)
        #expect(queued.status == 0, "\(queued.stderr)")
        let jid = queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let scheduled = try ProcessRunner.conveyor(["enqueue", "LaterJob", "[7]", "--in", "3600", "--retry", "3"], redisURL: redisURL)
        #expect(scheduled.status == 0)
        let scheduledJid = scheduled.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let inspect = try ProcessRunner.ruby("sidekiq_peer.rb", ["inspect"], redisURL: redisURL)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let view = try JSONValue.parse(inspect.stdout)
        let queue = try #require(view["queues"]?.arrayValue?.first { $0["name"]?.stringValue == "critical" })
        #expect(queue["size"]?.intValue == 1)
        let job = try #require(queue["jobs"]?[0])
        #expect(job["jid"]?.stringValue == jid)
        #expect(job["class"]?.stringValue == "HardJob")
        #expect(job["args"] == [1, "two", ["three": 3.5]])
        #expect(abs((job["enqueued_at"]?.doubleValue ?? 0) - now) < 30)
        #expect((queue["latency"]?.doubleValue ?? -1) >= 0)
        let entry = try #require(view["scheduled"]?[0])
        #expect(entry["jid"]?.stringValue == scheduledJid)
        #expect(entry["class"]?.stringValue == "LaterJob")
        #expect(abs((entry["at"]?.doubleValue ?? 0) - (now + 3600)) < 30)
        #expect(view["stats"]?["enqueued"]?.intValue == 1)
        #expect(view["stats"]?["scheduled"]?.intValue == 1)
    }

    @Test("retry, dead, process, busy and stats records are read correctly by Sidekiq's API, which can quiet and stop the worker")
    func recordsReadByRuby() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        try client.enqueue("FailJob", args: ["retry me"], retry: .limit(1))
        try client.enqueue("FailJob", args: ["kill me"], retry: .limit(0))
        try client.enqueue("NoopJob")
        try client.enqueue("SleepJob", args: [30_000], queue: "slow")
        let worker = try ConveyorProcess(["worker", "-c", "3", "-q", "default", "-q", "slow", "--timeout", "1"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually {
            let retries = try redis.command("ZCARD", "retry").int
            let dead = try redis.command("ZCARD", "dead").int
            return retries == 1 && dead == 1
        })
        // Stats are flushed by the heartbeat (every 5 s).
        #expect(try TestEnvironment.eventually { try redis.command("GET", "stat:processed").int == 3 })

        let inspect = try ProcessRunner.ruby("sidekiq_peer.rb", ["inspect"], redisURL: redisURL)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let view = try JSONValue.parse(inspect.stdout)
        let retry = try #require(view["retries"]?[0])
        #expect(retry["class"]?.stringValue == "FailJob")
        #expect(retry["error_class"]?.stringValue == "FailJob::Failure")
        #expect(retry["error_message"]?.stringValue == "retry me")
        #expect(retry["retry_count"]?.intValue == 0)
        #expect((retry["at"]?.doubleValue ?? 0) > Date().timeIntervalSince1970 + 5)
        let dead = try #require(view["dead"]?[0])
        #expect(dead["error_message"]?.stringValue == "kill me")
        #expect(view["stats"]?["processed"]?.intValue == 3)
        #expect(view["stats"]?["failed"]?.intValue == 2)
        #expect(view["stats"]?["processes"]?.intValue == 1)
        #expect(view["stats"]?["workers"]?.intValue == 1)
        let process = try #require(view["processes"]?[0])
        #expect(process["concurrency"]?.intValue == 3)
        #expect(process["queues"] == ["default", "slow"])
        #expect(process["pid"]?.intValue == Int(worker.child.pid))
        #expect(process["stopping"] == false)
        let busy = try #require(view["workers"]?[0])
        #expect(busy["class"]?.stringValue == "SleepJob")
        #expect(busy["queue"]?.stringValue == "slow")

        // Quiet and stop from Sidekiq's API (what its Web UI buttons do).
        let identity = try #require(process["identity"]?.stringValue)
        #expect(try ProcessRunner.ruby("sidekiq_peer.rb", ["quiet", identity], redisURL: redisURL).status == 0)
        #expect(try TestEnvironment.eventually(timeout: .seconds(20)) { try redis.command("HGET", identity, "quiet").string == "true" })
        #expect(try ProcessRunner.ruby("sidekiq_peer.rb", ["stop", identity], redisURL: redisURL).status == 0)
        #expect(worker.child.wait(timeout: .seconds(30)) == 0)
        // The sleeping job was pushed back, the process is gone from Sidekiq's view.
        #expect(try redis.command("LLEN", "queue:slow").int == 1)
        #expect(try redis.command("SCARD", "processes").int == 0)
        #expect(worker.log.contains("pushed unfinished jobs back"))
    }
}
