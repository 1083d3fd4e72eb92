import ConveyorPlatform
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// What a running `conveyor` maps: libpq only once PostgreSQL is used; and, for the lean
/// release build that deployments use, no Swift runtime or libstdc++ shared libraries.
@Suite("Process footprint")
struct ProcessFootprintTests {
    func mappedFiles(_ pid: pid_t) -> String {
        // Foundation's String(contentsOfFile:) stops at procfs's first page; read to the end.
        SmallFile.contents(of: "/proc/\(pid)/maps") ?? ""
    }

    func processed(_ redis: RedisConnection) throws -> Int { try QueueAPI(redis: redis).stats().processed }

    @Test("a worker serving only Redis queues never maps libpq; the migration scheduler loads it on its first connection")
    func libpqIsLoadedOnFirstUse() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (_, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "footprint")
        let queues = try ConveyorProcess(["worker", "-c", "2", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try ProcessRunner.conveyor(["enqueue", "NoopJob", "--count", "50"], redisURL: redisURL).status == 0)
        #expect(try TestEnvironment.eventually { try processed(redis) == 50 }, "jobs were not run:\n\(queues.log)")
        let maps = mappedFiles(queues.child.pid)
        #expect(maps.contains("conveyor"), "cannot read the worker's memory map")
        #expect(!maps.contains("libpq.so"), "a queue-only worker mapped libpq")
        #expect(queues.terminate() == 0)

        let scheduler = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { mappedFiles(scheduler.child.pid).contains("libpq.so") },
                "the scheduler never loaded libpq:\n\(scheduler.log)")
        #expect(!scheduler.log.contains("ERROR"), "\(scheduler.log)")
        #expect(scheduler.terminate() == 0)
    }

    @Test("`conveyor web` without conveyor-web beside it or on PATH says how to build it")
    func webProgramMissing() throws {
        let directory = ProcessRunner.temporaryFile("lonely")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let copy = directory + "/conveyor"
        // Copied by a child `cp`: had this process held the copy open for writing, a child
        // forked meanwhile by a test running in parallel would inherit that descriptor and
        // exec'ing the copy would fail with ETXTBSY ("Text file busy").
        let copied = try ProcessRunner.run("/bin/cp", [TestEnvironment.conveyorBinary, copy])
        #expect(copied.status == 0, "\(copied.stderr)")
        let output = try ProcessRunner.run(copy, ["web", "--bind", "127.0.0.1:0"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("conveyor-web"), "\(output.stderr)")
        #expect(output.stderr.contains("swift build -c release --static-swift-stdlib --product conveyor-web"), "\(output.stderr)")
    }

    @Test("`conveyor web --help` is conveyor-web's help: arguments pass through unchanged")
    func webHelpPassesThrough() throws {
        let output = try ProcessRunner.run(TestEnvironment.conveyorBinary, ["web", "--help"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("--bind"), "\(output.stdout)\(output.stderr)")
        #expect(output.stdout.contains("conveyor web"), "\(output.stdout)")
    }

    /// scripts/test builds the deployable binary with scripts/build-release and names it in
    /// CONVEYOR_RELEASE_BINARY (run the tests through scripts/test).
    @Test("the release build runs jobs and migrations with no Swift runtime, libstdc++ or libpq library mapped by a queue worker")
    func releaseBuild() throws {
        let binary = try TestEnvironment.value("CONVEYOR_RELEASE_BINARY")
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (_, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "release")
        let worker = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL, binary: binary)
        let enqueue = try ProcessRunner.run(binary, ["enqueue", "NoopJob", "--count", "2000"], environment: ["REDIS_URL": redisURL])
        #expect(enqueue.status == 0, "\(enqueue.stderr)")
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try processed(redis) == 2000 }, "\(worker.log)")
        let maps = mappedFiles(worker.child.pid)
        #expect(maps.contains("/conveyor"), "cannot read the worker's memory map")
        for library in ["libswiftCore", "libFoundation", "libstdc++", "libpq.so", "libicu"] {
            #expect(!maps.contains(library), "the release worker mapped \(library)")
        }
        #expect(worker.terminate() == 0)

        let status = try ProcessRunner.run(binary, ["migrations", "status"], environment: ["REDIS_URL": redisURL, "DATABASE_URL": databaseURL])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("JOB CLASS") || status.stdout.contains("No batched"), "\(status.stdout)")
    }
}
