import ConveyorJSON
import ConveyorMigrations
import ConveyorPlatform
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

/// What a drill measured; printed as one `DRILL` line (Benchmarks/NOTES.md's reliability
/// table quotes these).
struct DrillFigures: CustomStringConvertible {
    var name: String
    var pushed = 0
    var accepted = 0
    var run = 0
    var lost = 0
    var duplicated = 0
    var recovery: Duration = .zero
    var note = ""

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    var description: String {
        "DRILL \(name): pushed \(pushed), accepted \(accepted), run \(run), lost \(lost), duplicated \(duplicated), recovered in \(Self.seconds(recovery)) s\(note.isEmpty ? "" : "; \(note)")"
    }
}

/// Fault drills against real servers: Redis at its memory limit, PostgreSQL terminating the
/// worker's sessions (jobs and a migration batch), a worker clock off by a minute. Each
/// counts pushed, accepted, run, lost and duplicated jobs.
@Suite("Fault drills", .serialized)
struct FaultDrillTests {
    static func recordStats(_ db: PostgresConnection) throws -> (keys: Int, runs: Int) {
        guard try db.query("SELECT to_regclass('conveyor_records') IS NOT NULL AS present").first?["present"].bool() == true else { return (0, 0) }
        let row = try #require(try db.query("SELECT count(*) AS keys, coalesce(sum(runs), 0) AS runs FROM conveyor_records").first)
        return (try row["keys"].int(), try row["runs"].int())
    }

    static func recordedKeys(_ db: PostgresConnection) throws -> Set<String> {
        Set(try db.query("SELECT key FROM conveyor_records").map { try $0["key"].string() })
    }

    /// Where each of `keys` (RecordJob arguments) is in Redis: queue, retry, schedule, dead,
    /// or a process's working/landing list; "nowhere" when it is in none.
    static func locate(_ keys: Set<String>, _ redis: RedisConnection) throws -> [String: String] {
        var places: [(String, [String])] = []
        for queue in try redis.command("KEYS", "queue:*").strings { places.append((queue, try redis.command("LRANGE", queue, 0, -1).strings)) }
        for set in ["retry", "schedule", "dead"] { places.append((set, try redis.command("ZRANGE", set, 0, -1).strings)) }
        for list in try redis.command("KEYS", "conveyor:*ing:*").strings { places.append((list, try redis.command("LRANGE", list, 0, -1).strings)) }
        var found: [String: String] = [:]
        for (place, payloads) in places {
            for payload in payloads {
                if let key = (try? JSONValue.parse(payload))?["args"]?[0]?.stringValue, keys.contains(key) {
                    found[key, default: ""] += (found[key] == nil ? "" : ", ") + place
                }
            }
        }
        for key in keys where found[key] == nil { found[key] = "nowhere" }
        return found
    }

    static func pushRecordJobs(_ redis: RedisConnection, _ keys: [String]) throws {
        for chunk in stride(from: 0, to: keys.count, by: 1000) {
            let payloads = keys[chunk..<min(chunk + 1000, keys.count)].map { JobPayload(className: "RecordJob", args: [.string($0)]) }
            try QueueClient(redis: redis).pushBulk(payloads)
        }
    }

    /// A DATABASE_URL whose sessions carry `application_name`, so a drill terminates the
    /// worker's sessions and nobody else's.
    static func tagged(_ url: String, _ name: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "application_name=\(name)"
    }

    static func terminate(applicationName: String, _ admin: PostgresConnection) throws -> Int {
        let rows = try admin.query(
            """
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity
            WHERE application_name = \(applicationName) AND pid <> pg_backend_pid()
            """)
        return try rows.first?["terminated"].int() ?? 0
    }

    // MARK: - PostgreSQL terminating the worker's sessions

    @Test("pg_terminate_backend of the worker's sessions three times, 1 s apart, during 20,000 RecordJobs: every job recorded, none parked, few run twice")
    func terminateSessionsMidJob() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, schema) = try TestEnvironment.isolatedPostgres(label: "term")
        try RecordJob.createTable(db)
        let total = 20_000, concurrency = 10
        let keys = (0..<total).map { "t-\($0)" }
        try Self.pushRecordJobs(redis, keys)
        let appName = "drill_\(schema)"
        let worker = try ConveyorProcess(["worker", "-c", "\(concurrency)", "-q", "default"], redisURL: redisURL, databaseURL: Self.tagged(databaseURL, appName))
        let admin = try PostgresConnection(connectionString: try TestEnvironment.databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try Self.recordStats(db).keys >= total / 5 })
        var terminated: [Int] = []
        for round in 0..<3 {
            if round > 0 { Thread.sleep(forTimeInterval: 1) }
            terminated.append(try Self.terminate(applicationName: appName, admin))
        }
        let lastFault = ContinuousClock.now
        let atFault = try Self.recordStats(db).keys
        if ProcessInfo.processInfo.environment["CONVEYOR_DRILL_DEBUG"] != nil {
            for _ in 0..<6 {
                Thread.sleep(forTimeInterval: 1)
                print("debug: keys \(try Self.recordStats(db).keys) retry \(try redis.command("ZCARD", "retry").int ?? -1) queued \(try redis.command("LLEN", "queue:default").int ?? -1)")
            }
            print("debug log:\n\(worker.log.split(separator: "\n").filter { !$0.contains("done") }.suffix(40).joined(separator: "\n"))")
        }
        // Back to recording (new keys appear) after the last termination.
        let resumed = try TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(20)) { try Self.recordStats(db).keys > atFault + 100 || Self.recordStats(db).keys == total }
        let resumedAfter = ContinuousClock.now - lastFault
        let complete = try TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(200)) { try Self.recordStats(db).keys == total }
        let recovery = ContinuousClock.now - lastFault
        let stats = try Self.recordStats(db)
        let missing = Set(keys).subtracting(try Self.recordedKeys(db))
        let whereabouts = try Self.locate(missing, redis)
        var figures = DrillFigures(name: "pg_terminate_backend x3 mid-job", pushed: total, accepted: total, run: stats.keys, lost: missing.count, duplicated: stats.runs - stats.keys, recovery: recovery)
        figures.note = "terminated \(terminated) sessions, \(worker.log.components(separatedBy: " WARN: fail ").count - 1) failed attempts, recording again \(DrillFigures.seconds(resumedAfter)) s after the last; retried jobs wait Sidekiq's first retry delay (15-24 s)"
        print(figures)
        #expect(terminated[0] > 0, "the first round found the worker's sessions: \(terminated)")
        let failedAttempts = worker.log.components(separatedBy: " WARN: fail ").count - 1
        print("pg_terminate drill: \(failedAttempts) failed attempts (each a job whose statement was cut off, retried after Sidekiq's delay)")
        // A job fails only when its own statement was cut off: at most one per processor per round.
        #expect(failedAttempts <= 3 * concurrency, "\(failedAttempts) failed attempts")
        #expect(resumed)
        #expect(complete && missing.isEmpty, "\(missing.count) jobs not recorded after 120 s: \(whereabouts.sorted { $0.key < $1.key }.prefix(20)); log:\n\(worker.log.suffix(3000))")
        // Only a job whose INSERT committed as its session was terminated runs twice.
        #expect(figures.duplicated <= 3 * concurrency, "\(figures.duplicated) jobs ran twice")
        #expect(worker.child.isRunning, "the worker crashed")
        #expect(try redis.command("ZCARD", "dead").int == 0)
        #expect(worker.terminate() == 0)
    }

    @Test("pg_terminate_backend of a batched migration's session mid-batch: the batch fails and is retried, the migration finishes, no job stays running")
    func terminateMigrationSessionMidBatch() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, schema) = try TestEnvironment.isolatedPostgres(label: "mterm")
        try MigrationFixtures.createEvents(db, rows: 8000)
        try db.execute("""
            CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$;
            CREATE TRIGGER slow_row BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION slow_row();
            """)
        try Schema.setUp(db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 500
        options.interval = 0
        options.pauseMilliseconds = 0
        let migration = try BatchedMigrationStore(db: db).queue(
            MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]),
            options: options, jobs: .builtIn)
        let appName = "mdrill_\(schema)"
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: Self.tagged(databaseURL, appName))
        let store = BatchedMigrationStore(db: db)
        let admin = try PostgresConnection(connectionString: try TestEnvironment.databaseURL)
        #expect(try TestEnvironment.eventually { try store.jobs(of: migration.id).contains { $0.status == .running } })
        // The session running the batch's UPDATE, mid-statement.
        var terminated = 0
        _ = try TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(20)) {
            terminated = try admin.query(
                """
                SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE application_name = \(appName) AND state = 'active' AND query ILIKE 'UPDATE%'
                """).first?["n"].int() ?? 0
            return terminated > 0
        }
        let faultAt = ContinuousClock.now
        let done = TestEnvironment.eventually(timeout: .seconds(120)) { (try? store.require(migration.id).status) == .finished }
        let recovery = ContinuousClock.now - faultAt
        let jobs = try store.jobs(of: migration.id)
        let retried = try jobs.filter { try store.transitionLogs(of: $0.id).contains { $0.nextStatus == .failed } || $0.attempts > 1 }
        let copy = try MigrationFixtures.copyState(db)
        var figures = DrillFigures(name: "pg_terminate_backend of a migration batch", pushed: jobs.count, accepted: jobs.count, run: jobs.filter { $0.status == .succeeded }.count, lost: copy.wrong, duplicated: copy.notExactlyOnce, recovery: recovery)
        figures.note = "batches; \(terminated) session(s) terminated mid-UPDATE, \(retried.count) batch(es) failed and retried, \(jobs.filter { $0.status == .running }.count) left running, rows wrong \(copy.wrong); duplicated counts rows updated twice (a sub-batch committed before the termination runs again with its batch)"
        print(figures)
        #expect(terminated > 0, "no batch UPDATE was caught running")
        #expect(done, "migration did not finish; log:\n\(worker.log.suffix(2000))")
        #expect(!retried.isEmpty, "the terminated batch should have failed and been retried")
        #expect(jobs.allSatisfy { $0.status != .running }, "a batch stayed running")
        #expect(copy.wrong == 0)
        #expect(worker.child.isRunning, "the worker crashed")
        #expect(worker.terminate() == 0)
    }

    // MARK: - Redis at maxmemory

    /// Pushes one RecordJob through the Swift API; the error it threw, if any.
    static func push(_ redis: RedisConnection, _ key: String) -> RedisError? {
        do {
            try QueueClient(redis: redis).push(JobPayload(className: "RecordJob", args: [.string(key)]))
            return nil
        } catch {
            return error
        }
    }

    @Test("Redis at maxmemory with noeviction: pushes fail clearly (CLI non-zero, API throws), the worker keeps finishing and acknowledging, nothing accepted is lost, all resumes when memory frees")
    func redisOutOfMemory() throws {
        let server = try PrivateRedisServer(extraArguments: ["--maxmemory-policy", "noeviction"])
        let redis = try RedisConnection(url: server.url)
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "oom")
        try RecordJob.createTable(db)
        // A lease shorter than the outage: without a lease that survives the memory limit,
        // the worker's own jobs would be pushed back and run twice once memory frees.
        let worker = try ConveyorProcess(["worker", "-c", "1", "-q", "default", "--lease", "4", "--rescue-interval", "1"], redisURL: server.url, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually { try redis.command("SCARD", "processes").int == 1 })
        // The filler goes in first, so the limit takes effect right after the backlog is
        // pushed: one processor cannot drain 50,000 jobs before it (the drill measures the
        // worker at the limit with work left, not an idle one).
        try redis.command("SET", "filler", String(repeating: "x", count: 48 << 20))
        let backlog = (0..<50_000).map { "m-\($0)" }
        try Self.pushRecordJobs(redis, backlog)
        var accepted = Set(backlog)
        var pushed = backlog.count
        try redis.command("CONFIG", "SET", "maxmemory", "24mb")
        let oomStart = ContinuousClock.now
        let atOOM = try Self.recordStats(db).keys

        // The Swift API throws a clear error; nothing is stored.
        var refusedByAPI = 0
        var apiMessage = ""
        for i in 0..<200 {
            pushed += 1
            if let error = Self.push(redis, "refused-\(i)") {
                refusedByAPI += 1
                if error.isOutOfMemory { apiMessage = error.description }
            } else {
                accepted.insert("refused-\(i)")
            }
        }
        // The CLI exits non-zero with it.
        let cli = try ProcessRunner.conveyor(["enqueue", "RecordJob", #"["cli-refused"]"#], redisURL: server.url)
        pushed += 1
        if cli.status == 0 { accepted.insert("cli-refused") }
        // The worker keeps running and acknowledging jobs through the outage (longer than its lease).
        Thread.sleep(forTimeInterval: 8)
        let duringOOM = try Self.recordStats(db).keys - atOOM
        let working = try redis.command("KEYS", "conveyor:working:*").strings.reduce(0) { $0 + (try redis.command("LLEN", $1).int ?? 0) }
        let leaseAlive = try redis.command("EXISTS", try redis.command("KEYS", "conveyor:alive:*").strings.first ?? "none").int == 1

        // Memory frees: pushes succeed again and everything accepted runs.
        try redis.command("DEL", "filler")
        let freedAt = ContinuousClock.now
        let after = (0..<1000).map { "after-\($0)" }
        var firstPushAfter: Duration?
        for key in after {
            pushed += 1
            while let error = Self.push(redis, key) {
                guard error.isOutOfMemory, ContinuousClock.now - freedAt < .seconds(10) else { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
            if firstPushAfter == nil { firstPushAfter = ContinuousClock.now - freedAt }
            accepted.insert(key)
        }
        let cliAfter = try ProcessRunner.conveyor(["enqueue", "RecordJob", #"["cli-after"]"#], redisURL: server.url)
        pushed += 1
        if cliAfter.status == 0 { accepted.insert("cli-after") }
        let complete = try TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(200)) { try Self.recordStats(db).keys >= accepted.count }
        let stats = try Self.recordStats(db)
        let recorded = try Self.recordedKeys(db)
        let lost = accepted.subtracting(recorded)
        let unaccepted = recorded.subtracting(accepted)
        var figures = DrillFigures(name: "Redis maxmemory noeviction", pushed: pushed, accepted: accepted.count, run: stats.keys, lost: lost.count, duplicated: stats.runs - stats.keys, recovery: firstPushAfter ?? .zero)
        figures.note = "\(refusedByAPI + (cli.status == 0 ? 0 : 1)) pushes refused during \(DrillFigures.seconds(freedAt - oomStart)) s at the limit, \(duringOOM) jobs finished meanwhile"
        print(figures)

        #expect(refusedByAPI == 200, "every push at the memory limit throws")
        #expect(apiMessage.contains("out of memory"), "a clear error: \(apiMessage)")
        #expect(cli.status != 0, "the CLI exits non-zero at the memory limit")
        #expect((cli.stderr + cli.stdout).contains("out of memory"), "CLI said: \(cli.stderr)\(cli.stdout)")
        #expect(duringOOM > 1000, "the worker kept finishing jobs at the memory limit (\(duringOOM)); log:\n\(worker.log.split(separator: "\n").filter { !$0.contains(" done") }.suffix(30).joined(separator: "\n"))")
        #expect(working <= 2 + 1000, "acknowledged jobs leave the working list (\(working) held)")
        #expect(leaseAlive, "the worker's lease survived an outage longer than the lease")
        #expect(cliAfter.status == 0, "the CLI pushes again once memory frees: \(cliAfter.stderr)")
        #expect(complete && lost.isEmpty, "accepted but never run: \(lost.count), e.g. \(lost.prefix(5)); where: \((try? Self.locate(Set(lost.prefix(20)), redis)) ?? [:])")
        #expect(unaccepted.isEmpty, "refused pushes must not run: \(unaccepted.prefix(5))")
        #expect(figures.duplicated == 0, "\(figures.duplicated) jobs ran twice")
        #expect(worker.child.isRunning)
        #expect(worker.log.contains("Redis is out of memory"))
        #expect(worker.terminate() == 0)
    }

    // MARK: - A hanging connection

    @Test("the worker's path to Redis hangs (sockets open, nothing delivered) for longer than its lease: it notices within the command timeout, reconnects when the path returns, nothing is lost; jobs another worker re-ran are counted")
    func redisPathHangs() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "hang")
        try RecordJob.createTable(db)
        let proxy = try HangingProxy(targetPort: try TestEnvironment.redisPort)
        let database = redisURL.split(separator: "/").last.map(String.init) ?? "0"
        let total = 20_000
        let keys = (0..<total).map { "h-\($0)" }
        try Self.pushRecordJobs(redis, keys)
        let cutOff = try ConveyorProcess(["worker", "-c", "4", "-q", "default", "--lease", "6", "--rescue-interval", "1"], redisURL: "\(proxy.url)/\(database)", databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try Self.recordStats(db).keys >= 2000 })
        let other = try ConveyorProcess(["worker", "-c", "4", "-q", "default", "--lease", "6", "--rescue-interval", "1"], redisURL: redisURL, databaseURL: databaseURL)
        proxy.hang()
        let hungAt = ContinuousClock.now
        let noticed = TestEnvironment.eventually(timeout: .seconds(40), interval: .milliseconds(100)) { cutOff.log.contains("unavailable") }
        let noticeTime = ContinuousClock.now - hungAt
        Thread.sleep(forTimeInterval: max(0, 15 - noticeTime.seconds))
        let rescued = other.log.contains("recovered jobs of dead processes")
        proxy.resume()
        let resumedAt = ContinuousClock.now
        let back = TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(100)) { cutOff.log.contains("is back") }
        let reconnect = ContinuousClock.now - resumedAt
        let complete = try TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(200)) { try Self.recordStats(db).keys == total }
        let stats = try Self.recordStats(db)
        let missing = Set(keys).subtracting(try Self.recordedKeys(db))
        // What the other worker pushed back from the cut-off worker's working list ("count=N").
        let recovered = other.log.split(separator: "\n").filter { $0.contains("recovered jobs of dead processes") }.reduce(0) { sum, line in
            sum + (line.firstRange(of: "count=").map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? 0 } ?? 0)
        }
        let duplicated = stats.runs - stats.keys
        var figures = DrillFigures(name: "worker-Redis path hangs 15 s (lease 6 s)", pushed: total, accepted: total, run: stats.keys, lost: missing.count, duplicated: duplicated, recovery: reconnect)
        figures.note = "noticed after \(DrillFigures.seconds(noticeTime)) s (command timeout 10 s); the lease lapsed and another worker pushed back \(recovered) jobs of its working list (fetched ahead or running when the path hung; the cut-off worker finished them too, its acknowledgements never arrived): the \(duplicated) duplicates are among those; reconnected \(DrillFigures.seconds(reconnect)) s after the path returned"
        print(figures)
        #expect(rescued && recovered > 0, "no recovery of the cut-off worker's list:\n\(other.log.suffix(2000))")
        // Only a job of the recovered list can run twice. That list holds the jobs fetched ahead
        // (at most maxFetchBatch, 1000), the 4 running and the few finished whose acknowledgements
        // were still on their way when the path hung.
        #expect(duplicated <= recovered && recovered <= 1000 + 4 + 64, "duplicated \(duplicated), recovered \(recovered)")
        #expect(noticed && noticeTime < .seconds(15), "the worker noticed the hang after \(noticeTime)")
        #expect(back, "the worker reconnected; log:\n\(cutOff.log.suffix(2000))")
        #expect(complete && missing.isEmpty, "lost: \(missing.count), where: \((try? Self.locate(Set(missing.prefix(20)), redis)) ?? [:])")
        #expect(cutOff.child.isRunning && other.child.isRunning)
        #expect(cutOff.terminate() == 0)
        #expect(other.terminate() == 0)
        proxy.close()
    }

    @Test("the worker's path to PostgreSQL hangs for longer than the lease: with DATABASE_REPLY_TIMEOUT the stuck jobs fail within it and are retried, the worker reconnects when the path returns, nothing is lost")
    func postgresPathHangs() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "pghang")
        try RecordJob.createTable(db)
        let pgPort = try Int(TestEnvironment.value("CONVEYOR_TEST_PG_PORT")) ?? 5440
        let proxy = try HangingProxy(targetPort: pgPort)
        let proxiedURL = databaseURL.replacingOccurrences(of: ":\(pgPort)/", with: ":\(proxy.port)/")
        let total = 10_000
        let keys = (0..<total).map { "p-\($0)" }
        try Self.pushRecordJobs(redis, keys)
        let worker = try ConveyorProcess(["worker", "-c", "4", "-q", "default", "--lease", "6", "--rescue-interval", "1"], redisURL: redisURL, databaseURL: proxiedURL,
                                         extraEnvironment: ["DATABASE_REPLY_TIMEOUT": "5"])
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try Self.recordStats(db).keys >= 1000 })
        proxy.hang()
        let hungAt = ContinuousClock.now
        let atHang = try Self.recordStats(db).keys
        // The processors stuck in a statement fail it after the reply timeout: retries appear.
        let noticed = try TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(100)) { try redis.command("ZCARD", "retry").int ?? 0 > 0 }
        let noticeTime = ContinuousClock.now - hungAt
        Thread.sleep(forTimeInterval: max(0, 15 - noticeTime.seconds))
        let duringHang = try Self.recordStats(db).keys - atHang
        let leaseAlive = try redis.command("KEYS", "conveyor:alive:*").strings.count == 1
        proxy.resume()
        let resumedAt = ContinuousClock.now
        let atResume = try Self.recordStats(db).keys
        let recording = try TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(100)) { try Self.recordStats(db).keys > atResume + 100 }
        let reconnect = ContinuousClock.now - resumedAt
        let complete = try TestEnvironment.eventually(timeout: .seconds(120), interval: .milliseconds(200)) { try Self.recordStats(db).keys == total }
        let stats = try Self.recordStats(db)
        let missing = Set(keys).subtracting(try Self.recordedKeys(db))
        var figures = DrillFigures(name: "worker-PostgreSQL path hangs 15 s", pushed: total, accepted: total, run: stats.keys, lost: missing.count, duplicated: stats.runs - stats.keys, recovery: reconnect)
        figures.note = "stuck statements failed after \(DrillFigures.seconds(noticeTime)) s (DATABASE_REPLY_TIMEOUT 5 s) and went to retry; lease (Redis) stayed alive: \(leaseAlive), so no other process re-ran them; recording again \(DrillFigures.seconds(reconnect)) s after the path returned; a statement the proxy delivered after its timeout commits and its retry runs again (duplicated)"
        print(figures)
        #expect(noticed && noticeTime < .seconds(15), "stuck statements noticed after \(noticeTime)")
        #expect(duringHang <= 4, "nothing can be recorded through a hung path (\(duringHang))")
        #expect(leaseAlive)
        #expect(recording, "recording resumed; log:\n\(worker.log.suffix(2000))")
        #expect(complete && missing.isEmpty, "lost: \(missing.count), where: \((try? Self.locate(Set(missing.prefix(20)), redis)) ?? [:])")
        #expect(figures.duplicated <= 3 * 4, "\(figures.duplicated) jobs ran twice")
        #expect(worker.child.isRunning)
        #expect(worker.terminate() == 0)
        proxy.close()
    }

    // MARK: - A worker clock off by a minute

    static func serverTime(_ redis: RedisConnection) throws -> Double {
        let parts = try redis.command("TIME").strings.compactMap(Double.init)
        return parts[0] + parts[1] / 1_000_000
    }

    @Test("a worker whose clock is a minute fast or slow (injected) neither runs scheduled jobs early nor strands them, and a retry waits its delay")
    func skewedClock() throws {
        struct Setup {
            let skew: Double
            let redis: RedisConnection
            let worker: Worker
            let thread: Thread
            var due: [String: Double] = [:]
        }
        final class Times: Sendable { let values = Mutex<[String: Double]>([:]) }
        /// Successful runs per key: a job run twice shows as 2 (the times above keep only the last).
        final class Counts: Sendable { let values = Mutex<[String: Int]>([:]) }
        let ranBox = Times(), failedBox = Times(), runCounts = Counts()
        var setups: [Setup] = []
        for skew in [60.0, -60.0] {
            let (redis, redisURL) = try TestEnvironment.isolatedRedis()
            var registry = JobRegistry()
            registry.register("StampJob") { _, args in
                let now = Timestamp.now()
                let key = args.first?.stringValue ?? "?"
                ranBox.values.withLock { $0[key] = now }
                runCounts.values.withLock { $0[key, default: 0] += 1 }
            }
            registry.register("FailOnceJob") { _, args in
                let key = args.first?.stringValue ?? "?"
                let now = Timestamp.now()
                let first = failedBox.values.withLock { failed -> Bool in
                    guard failed[key] == nil else { return false }
                    failed[key] = now
                    return true
                }
                if first { throw JobError(errorClass: "FailOnce", message: "first run fails") }
                ranBox.values.withLock { $0[key] = now }
                runCounts.values.withLock { $0[key, default: 0] += 1 }
            }
            var configuration = WorkerConfiguration(redis: try RedisConfiguration(url: redisURL), queues: try QueueSelector(specs: ["default"]), concurrency: 2)
            configuration.clock = WorkerClock(local: { Timestamp.now() + skew })
            let worker = Worker(configuration: configuration, registry: registry, logger: Logger(label: "clock-drill"))
            let thread = Thread { _ = worker.run() }
            thread.start()
            setups.append(Setup(skew: skew, redis: redis, worker: worker, thread: thread))
        }
        // Scheduled 2-5 s ahead by the Redis server's clock (this machine's, too).
        for i in setups.indices {
            let client = QueueClient(redis: setups[i].redis)
            let now = try Self.serverTime(setups[i].redis)
            for j in 0..<10 {
                let key = "s\(setups[i].skew)-\(j)"
                let at = now + 2 + 0.3 * Double(j)
                try client.schedule(JobPayload(className: "StampJob", args: [.string(key)]), at: at)
                setups[i].due[key] = at
            }
        }
        #expect(TestEnvironment.eventually(timeout: .seconds(20)) { ranBox.values.withLock { $0.count } == 20 })
        // Then a job that fails once: the poller has measured the offset by now.
        for setup in setups { _ = try QueueClient(redis: setup.redis).enqueue("FailOnceJob", args: [.string("f\(setup.skew)")]) }
        #expect(TestEnvironment.eventually(timeout: .seconds(45), interval: .milliseconds(100)) { ranBox.values.withLock { $0.count } == 22 })
        for setup in setups {
            setup.worker.stop()
        }
        let runs = ranBox.values.withLock { $0 }
        let failures = failedBox.values.withLock { $0 }
        let counts = runCounts.values.withLock { $0 }
        for setup in setups {
            var early = 0, late = 0, worst = 0.0
            for (key, at) in setup.due {
                guard let time = runs[key] else { continue }
                if time < at { early += 1 }
                if time > at + 3 { late += 1 }
                worst = max(worst, time - at)
            }
            let key = "f\(setup.skew)"
            let retryDelay = (runs[key] ?? 0) - (failures[key] ?? 0)
            let duplicated = (Array(setup.due.keys) + [key]).reduce(0) { $0 + max(0, (counts[$1] ?? 0) - 1) }
            var figures = DrillFigures(name: "worker clock \(setup.skew > 0 ? "+" : "")\(Int(setup.skew)) s", pushed: 11, accepted: 11, run: setup.due.keys.filter { runs[$0] != nil }.count + (runs[key] == nil ? 0 : 1), lost: setup.due.keys.filter { runs[$0] == nil }.count + (runs[key] == nil ? 1 : 0), duplicated: duplicated, recovery: .milliseconds(Int64(worst * 1000)))
            figures.note = "scheduled jobs early \(early), later than 3 s \(late), worst \(String(format: "%.2f", worst)) s after due; retry ran \(String(format: "%.1f", retryDelay)) s after its failure (Sidekiq: 15-24 s); recovered = worst lateness"
            print(figures)
            #expect(early == 0, "clock \(setup.skew): \(early) scheduled jobs ran before they were due")
            #expect(late == 0, "clock \(setup.skew): \(late) scheduled jobs ran more than 3 s late")
            #expect(figures.lost == 0)
            #expect(duplicated == 0, "clock \(setup.skew): \(duplicated) jobs ran twice: \(counts)")
            #expect(retryDelay >= 15 && retryDelay <= 27, "clock \(setup.skew): the retry ran \(retryDelay) s after the failure")
        }
    }
}
