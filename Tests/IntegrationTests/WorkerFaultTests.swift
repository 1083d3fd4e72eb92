import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("Worker faults")
struct WorkerFaultTests {
    func recordStats(_ db: PostgresConnection) throws -> (keys: Int, runs: Int) {
        guard try db.query("SELECT to_regclass('conveyor_records') IS NOT NULL AS present").first?["present"].bool() == true else { return (0, 0) }
        let row = try #require(try db.query("SELECT count(*) AS keys, coalesce(sum(runs), 0) AS runs FROM conveyor_records").first)
        return (try row["keys"].int(), try row["runs"].int())
    }

    func pushRecordJobs(_ redis: RedisConnection, count: Int, prefix: String) throws {
        let payloads = (0..<count).map { JobPayload(className: "RecordJob", args: [.string("\(prefix)-\($0)")]) }
        try QueueClient(redis: redis).pushBulk(payloads)
    }

    @Test("kill -9 mid-run loses no job, runs again at most the jobs that were running, and a replacement recovers them within 30 s")
    func killDrill() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "drill")
        try RecordJob.createTable(db)
        let total = 20_000, concurrency = 10
        try pushRecordJobs(redis, count: total, prefix: "k")
        let first = try ConveyorProcess(["worker", "-c", "\(concurrency)", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try recordStats(db).keys >= total / 4 })
        let dead = try #require(try redis.command("SMEMBERS", "processes").strings.first)
        first.kill9()
        let killedAt = ContinuousClock.now
        let atKill = try recordStats(db)
        func deadLists() throws -> Int {
            try redis.command("HVALS", "conveyor:working-lists").strings.filter { $0.hasPrefix(dead + "\t") }.count
        }
        #expect(try deadLists() > 0, "the dead worker's lists are registered")
        let second = try ConveyorProcess(["worker", "-c", "\(concurrency)", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        let recovered = try TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(100)) { try deadLists() == 0 }
        let recovery = ContinuousClock.now - killedAt
        #expect(recovered)
        #expect(recovery <= .seconds(30), "the dead worker's jobs were pushed back after \(recovery)")
        let complete = try TestEnvironment.eventually(timeout: .seconds(150)) { try recordStats(db).keys == total }
        let final = try recordStats(db)
        let duplicates = final.runs - final.keys
        #expect(complete, "lost jobs: \(total - final.keys) keys never recorded")
        #expect(duplicates <= concurrency, "\(duplicates) jobs ran twice; only the \(concurrency) running at the kill may")
        #expect(second.terminate() == 0)
        #expect(try redis.command("LLEN", "queue:default").int == 0)
        #expect(second.log.contains("recovered jobs of dead processes"))
        print("kill -9 drill: \(total) jobs, -c \(concurrency), killed at \(atKill.keys) done, \(duplicates) duplicate executions, 0 lost, recovered after \(String(format: "%.1f", Double(recovery.components.seconds) + Double(recovery.components.attoseconds) / 1e18)) s")
    }

    @Test("a malformed payload goes to the dead set with its reason and the worker keeps going")
    func malformedPayload() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        try redis.command("SADD", "queues", "default")
        try redis.command("LPUSH", "queue:default", "{not json", #"{"args":[1]}"#, #"{"class":"NoopJob","args":[]}"#)
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually {
            let dead = try redis.command("ZCARD", "dead").int
            let waiting = try redis.command("LLEN", "queue:default").int
            return dead == 2 && waiting == 0
        })
        let dead = try redis.command("ZRANGE", "dead", 0, -1).strings.map { try JSONValue.parse($0) }
        let reasons = dead.compactMap { $0["error_message"]?.stringValue }.sorted()
        #expect(reasons.count == 2)
        #expect(reasons.contains { $0.contains("not valid JSON") })
        #expect(reasons.contains { $0.contains("no 'class'") })
        #expect(dead.allSatisfy { $0["args"]?[0]?.stringValue != nil })  // the raw payload is kept
        try QueueClient(redis: redis).enqueue("NoopJob")
        #expect(try TestEnvironment.eventually { try redis.command("LLEN", "queue:default").int == 0 })
        #expect(worker.child.isRunning)
        #expect(worker.terminate() == 0)
        #expect(worker.log.contains("invalid payload sent to the dead set"))
    }

    @Test("TERM exits 0, pushing jobs still running after --timeout back to their queue")
    func termPushesBack() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        let sleepers = try (0..<2).map { _ in try client.enqueue("SleepJob", args: [60_000]) }
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--timeout", "1"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually {
            let waiting = try redis.command("LLEN", "queue:default").int ?? -1
            let busy = try redis.command("HLEN", worker.identity(redis)).int ?? 0
            return waiting == 0 && busy > 0
        })
        Thread.sleep(forTimeInterval: 0.3)
        let start = ContinuousClock.now
        #expect(worker.terminate(timeout: .seconds(20)) == 0)
        #expect(ContinuousClock.now - start < .seconds(10))
        let back = try redis.command("LRANGE", "queue:default", 0, -1).strings.compactMap { try? JSONValue.parse($0)["jid"]?.stringValue }
        #expect(Set(back) == Set(sleepers))
        #expect(try redis.command("KEYS", "conveyor:working:*").strings.isEmpty)
        #expect(try redis.command("SCARD", "processes").int == 0)
        #expect(try redis.command("HLEN", "conveyor:working-lists").int == 0)
    }

    @Test("a job finishing within --timeout is not pushed back (no duplicate on a clean stop)")
    func cleanStop() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "clean")
        try RecordJob.createTable(db)
        try pushRecordJobs(redis, count: 3000, prefix: "c")
        let worker = try ConveyorProcess(["worker", "-c", "8", "-q", "default", "--timeout", "10"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually { try recordStats(db).keys > 200 })
        #expect(worker.terminate() == 0)
        let afterStop = try recordStats(db)
        let left = try redis.command("LLEN", "queue:default").int ?? 0
        #expect(afterStop.keys + left == 3000, "jobs lost on a clean stop")
        #expect(afterStop.runs == afterStop.keys, "a clean stop ran \(afterStop.runs - afterStop.keys) jobs twice")
    }

    @Test("Redis restarting mid-run: the worker reconnects with backoff and finishes every job")
    func redisRestart() throws {
        let server = try PrivateRedisServer(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let redis = try RedisConnection(url: server.url)
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "restart")
        try RecordJob.createTable(db)
        let total = 4000
        try pushRecordJobs(redis, count: total, prefix: "r")
        let worker = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: server.url, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually { try recordStats(db).keys > 500 })
        server.stop()
        Thread.sleep(forTimeInterval: 2)
        try server.start()
        let complete = try TestEnvironment.eventually(timeout: .seconds(120)) { try recordStats(db).keys == total }
        let recorded = try recordStats(db).keys
        _ = try? redis.command("PING")  // the restart broke this connection; the next command reconnects
        let left = try redis.command("LLEN", "queue:default").int ?? -1
        let working = try redis.command("HLEN", "conveyor:working-lists").int ?? -1
        #expect(complete, "only \(recorded) of \(total) recorded, \(left) queued, \(working) working lists; log:\n\(worker.log.suffix(3000))")
        #expect(worker.child.isRunning, "the worker crashed")
        #expect(worker.log.contains(") unavailable, retrying") || worker.log.contains("Redis unavailable, retrying"))
        #expect(worker.log.contains("is back"))
        #expect(worker.terminate() == 0)
    }
}

extension ConveyorProcess {
    /// The worker's `<identity>:work` key, found through the processes set.
    func identity(_ redis: RedisConnection) throws -> String {
        let members = try redis.command("SMEMBERS", "processes").strings
        return (members.first { $0.contains(":\(child.pid):") } ?? "none") + ":work"
    }
}
