import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("Fair dispatch and idle pick-up")
struct DispatchTests {
    @Test("fast jobs finish while slow ones fetched before them still run: no job waits while a processor is free")
    func slowAndFast() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "hol")
        try RecordJob.createTable(db)
        // Slow jobs first, spread among the fast ones, all in the queue before the worker starts,
        // so the first fetch takes slow and fast jobs together.
        var payloads: [JobPayload] = []
        let slowJobs = 3, fastJobs = 600
        for i in 0..<fastJobs {
            if i % 200 == 0 { payloads.append(JobPayload(className: "SleepJob", args: [30_000])) }
            payloads.append(JobPayload(className: "RecordJob", args: [.string("fast-\(i)")]))
        }
        try QueueClient(redis: redis).pushBulk(payloads)
        let worker = try ConveyorProcess(["worker", "-c", "6", "-q", "default", "--timeout", "1"], redisURL: redisURL, databaseURL: databaseURL)
        let fastDone = try TestEnvironment.eventually(timeout: .seconds(25)) {
            try db.query("SELECT count(*) AS n FROM conveyor_records").first?["n"].int() == fastJobs
        }
        // Every fast job is done while every slow job (30 s each) is still in the working list: running.
        let working = try redis.command("KEYS", "conveyor:working:*").strings
        let held = try working.flatMap { try redis.command("LRANGE", $0, 0, -1).strings }
        let sleeping = held.filter { $0.contains("SleepJob") }.count
        #expect(fastDone, "fast jobs waited behind slow ones")
        #expect(sleeping == slowJobs, "the slow jobs still run (\(sleeping) of \(slowJobs) in the working list)")
        #expect(try redis.command("LLEN", "queue:default").int == 0)
        #expect(worker.terminate() == 0)
        // The slow jobs go back to the queue on TERM (--timeout 1): nothing is lost.
        #expect(try redis.command("LLEN", "queue:default").int == slowJobs)
    }

    @Test("an idle worker serving 40 queues picks up a job pushed to any of them within tens of milliseconds")
    func pickUpOverManyQueues() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let queues = (1...40).map { "q\($0)" }
        let worker = try ConveyorProcess(["worker", "-c", "5"] + queues.flatMap { ["-q", $0] }, redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try redis.command("SCARD", "processes").int == 1 })
        Thread.sleep(forTimeInterval: 1.5)  // idle: every fetch has found nothing and the worker waits
        let client = QueueClient(redis: redis)
        var latencies: [Double] = []
        for queue in ["q40", "q17", "q1", "q33", "q40", "q8"] {
            let start = ContinuousClock.now
            try client.enqueue("NoopJob", queue: queue)
            // Picked up = moved out of the queue into the worker's working list.
            let picked = try TestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(1)) {
                try redis.command("LLEN", "queue:\(queue)").int == 0
            }
            let elapsed = ContinuousClock.now - start
            #expect(picked)
            latencies.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            Thread.sleep(forTimeInterval: 1.2)  // idle again
        }
        #expect(try TestEnvironment.eventually { try redis.command("GET", "stat:processed").int == 6 || worker.log.components(separatedBy: "done jid").count == 7 })
        print("idle pick-up over 40 queues (ms): \(latencies.map { String(format: "%.1f", $0) }.joined(separator: ", "))")
        // Waiting on one queue at a time (the old way) took ~200 ms median and up to 1 s.
        #expect(latencies.allSatisfy { $0 < 250 }, "pick-up took \(latencies) ms")
        #expect(worker.terminate() == 0)
    }
}
