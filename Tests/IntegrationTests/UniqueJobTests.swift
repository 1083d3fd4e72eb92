import ConveyorJSON
import ConveyorPlatform
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// Unique jobs through the `conveyor` binary: pushes, a worker, one Redis.
@Suite("Unique jobs (conveyor enqueue --unique-for)")
struct UniqueJobTests {
    func lockKey(_ className: String, args: [JSONValue], queue: String = "default") -> String {
        UniqueLock.prefix + UniqueLock.digest(className: className, queue: queue, args: args)
    }

    @Test("50 concurrent pushes of one unique job enqueue exactly one; after it succeeds the next push is enqueued")
    func concurrentPushes() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        var environment = ProcessInfo.processInfo.environment
        environment["REDIS_URL"] = redisURL
        var outputs: [(ChildProcess, String, String)] = []
        for _ in 0..<50 {
            let out = ProcessRunner.temporaryFile("out"), err = ProcessRunner.temporaryFile("err")
            let child = try ChildProcess(TestEnvironment.conveyorBinary, ["enqueue", "NoopJob", "[\"u1\"]", "--unique-for", "60"], environment: environment, stdout: out, stderr: err)
            outputs.append((child, out, err))
        }
        let statuses = outputs.map { $0.0.wait(timeout: .seconds(120)) }
        #expect(statuses.filter { $0 == 0 }.count == 1, "\(statuses)")
        #expect(statuses.filter { $0 == 3 }.count == 49, "\(statuses)")
        let refusal = outputs.compactMap { try? String(contentsOfFile: $0.2, encoding: .utf8) }.first { !$0.isEmpty } ?? ""
        #expect(refusal.contains("not enqueued: a unique NoopJob job with these arguments is pending"), "\(refusal)")
        #expect(try redis.command("LLEN", "queue:default").int == 1)

        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--no-scheduler"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try redis.command("EXISTS", lockKey("NoopJob", args: ["u1"])).int == 0 && redis.command("LLEN", "queue:default").int == 0 },
                "\(worker.log)")
        let again = try ProcessRunner.conveyor(["enqueue", "NoopJob", "[\"u1\"]", "--unique-for", "60"], redisURL: redisURL)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(worker.terminate() == 0)
    }

    @Test("a job that dies releases its lock; one waiting for a retry keeps it")
    func deathReleases() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        #expect(try ProcessRunner.conveyor(["enqueue", "FailJob", "[\"die\"]", "--unique-for", "300", "--retry", "0"], redisURL: redisURL).status == 0)
        #expect(try ProcessRunner.conveyor(["enqueue", "FailJob", "[\"retry\"]", "--unique-for", "300", "--retry", "5"], redisURL: redisURL).status == 0)
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--no-scheduler"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try redis.command("ZCARD", "dead").int == 1 && redis.command("ZCARD", "retry").int == 1 }, "\(worker.log)")
        #expect(try TestEnvironment.eventually { try redis.command("EXISTS", lockKey("FailJob", args: ["die"])).int == 0 })
        #expect(try redis.command("EXISTS", lockKey("FailJob", args: ["retry"])).int == 1, "a job pending retry keeps its lock")
        #expect(try ProcessRunner.conveyor(["enqueue", "FailJob", "[\"die\"]", "--unique-for", "300"], redisURL: redisURL).status == 0)
        #expect(try ProcessRunner.conveyor(["enqueue", "FailJob", "[\"retry\"]", "--unique-for", "300"], redisURL: redisURL).status == 3)
        #expect(worker.terminate() == 0)
    }

    @Test("kill -9 of the worker running a unique job: the lock is held until its TTL (unique_for) ends, then a push is enqueued again")
    func crashLeavesTTL() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let worker = try ConveyorProcess(["worker", "-c", "1", "-q", "default", "--no-scheduler"], redisURL: redisURL)
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { (try? redis.command("SCARD", "processes").int) == 1 }, "\(worker.log)")
        let key = lockKey("SleepJob", args: [30000])
        let pushed = ContinuousClock.now
        #expect(try ProcessRunner.conveyor(["enqueue", "SleepJob", "[30000]", "--unique-for", "4"], redisURL: redisURL).status == 0)
        #expect(try TestEnvironment.eventually(interval: .milliseconds(20)) { try redis.command("LLEN", "queue:default").int == 0 }, "\(worker.log)")
        let ttl = try redis.command("PTTL", key).int ?? -2
        #expect(ttl > 0 && ttl <= 4000, "PTTL \(ttl)")
        worker.kill9()
        // Nobody released it: the crashed job's lock refuses a second push until the TTL ends.
        let refused = try ProcessRunner.conveyor(["enqueue", "SleepJob", "[30000]", "--unique-for", "4"], redisURL: redisURL)
        #expect(refused.status == 3, "\(refused.stdout)\(refused.stderr)")
        #expect(try TestEnvironment.eventually(timeout: .seconds(10), interval: .milliseconds(50)) { try redis.command("EXISTS", key).int == 0 })
        let freed = ContinuousClock.now - pushed
        #expect(freed >= .milliseconds(3900) && freed < .seconds(8), "the lock lasted \(freed)")
        #expect(try ProcessRunner.conveyor(["enqueue", "SleepJob", "[30000]", "--unique-for", "4"], redisURL: redisURL).status == 0)
    }

    @Test("--unique-until start releases the lock when the job starts running")
    func untilStart() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--no-scheduler"], redisURL: redisURL)
        #expect(try ProcessRunner.conveyor(["enqueue", "SleepJob", "[3000]", "--unique-for", "300", "--unique-until", "start"], redisURL: redisURL).status == 0)
        #expect(try TestEnvironment.eventually { try QueueAPI(redis: redis).stats().busy == 1 || redis.command("EXISTS", lockKey("SleepJob", args: [3000])).int == 0 })
        #expect(try TestEnvironment.eventually { try redis.command("EXISTS", lockKey("SleepJob", args: [3000])).int == 0 })
        let second = try ProcessRunner.conveyor(["enqueue", "SleepJob", "[3000]", "--unique-for", "300", "--unique-until", "start"], redisURL: redisURL)
        #expect(second.status == 0, "the lock was still held while the first copy ran: \(second.stderr)")
        #expect(worker.terminate() == 0)
    }

    @Test("a scheduled unique job (--in) holds the lock until it has run")
    func scheduled() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        #expect(try ProcessRunner.conveyor(["enqueue", "NoopJob", "[\"later\"]", "--in", "2", "--unique-for", "60"], redisURL: redisURL).status == 0)
        let refused = try ProcessRunner.conveyor(["enqueue", "NoopJob", "[\"later\"]", "--unique-for", "60", "--json"], redisURL: redisURL)
        #expect(refused.status == 3 && refused.stdout.contains("\"enqueued\":false"), "\(refused.stdout)")
        #expect(try redis.command("ZCARD", "schedule").int == 1)
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--no-scheduler"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try redis.command("EXISTS", lockKey("NoopJob", args: ["later"])).int == 0 && redis.command("ZCARD", "schedule").int == 0 }, "\(worker.log)")
        #expect(try ProcessRunner.conveyor(["enqueue", "NoopJob", "[\"later\"]", "--unique-for", "60"], redisURL: redisURL).status == 0)
        #expect(worker.terminate() == 0)
    }

    @Test("bad unique options are refused before anything is pushed", arguments: [
        ["--unique-for", "0"], ["--unique-for", "-3"], ["--unique-for", "10", "--unique-until", "finish"], ["--unique-until", "start"],
        ["--unique-for", "10", "--count", "2"],
    ])
    func refused(options: [String]) throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let output = try ProcessRunner.conveyor(["enqueue", "NoopJob"] + options, redisURL: redisURL)
        #expect(output.status != 0 && output.status != 3 && output.stderr.contains("unique"), "\(output.stderr)")
        #expect(try redis.command("LLEN", "queue:default").int == 0)
    }
}
