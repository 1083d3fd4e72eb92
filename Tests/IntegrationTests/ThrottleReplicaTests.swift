import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Logging
import Testing
import TestSupport

/// The soft limit on replication lag against a real streaming replica: replay paused on
/// the replica while the primary writes → the migration is throttled (its pause between
/// batches stretched, the reason stored and shown); replay resumed → released. And the
/// WAL-rate limit on a plain server.
@Suite("Throttling on a streaming replica")
struct ThrottleReplicaTests {
    func replayLag(_ primary: PostgresConnection) throws -> Double? {
        try primary.query("""
            SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8 AS lag FROM pg_stat_replication WHERE replay_lsn IS NOT NULL
            """).first?["lag"].optionalDouble()
    }

    /// Queues the int→bigint copy of `events` at a fixed pace (optimizer off in both tests).
    func queueCopy(_ store: BatchedMigrationStore, batchSize: Int, subBatchSize: Int, pauseMilliseconds: Int) throws -> Int64 {
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = batchSize
        options.subBatchSize = subBatchSize
        options.interval = 0
        options.pauseMilliseconds = pauseMilliseconds
        return try store.queue(
            MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]),
            options: options, jobs: .builtIn).id
    }

    @Test("throttle engages with the replica's replay paused and releases when it is resumed")
    func throttleOnReplica() throws {
        let server = try PrivatePostgresServer()
        let replica = try PrivatePostgresReplica(of: server)
        let db = try PostgresConnection(connectionString: server.url)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) {
            try db.query("SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'")[0]["n"].int() == 1
        }, "\(replica.log.suffix(2000))")
        let standby = try PostgresConnection(connectionString: replica.url)
        #expect(try standby.query("SELECT pg_is_in_recovery() AS r")[0]["r"].bool())

        try Schema.setUp(db)
        try MigrationFixtures.createEvents(db, rows: 20_000)
        try db.execute("CREATE TABLE ballast (id serial PRIMARY KEY, filler text)")
        let limit = 256 * 1024
        try MigrationSettings.store("throttle_replication_lag_bytes", String(limit), db)
        try MigrationSettings.store("optimize_batched_migrations", "false", db)
        let settings = try MigrationSettings.load(db)
        let store = BatchedMigrationStore(db: db)
        let id = try queueCopy(store, batchSize: 500, subBatchSize: 500, pauseMilliseconds: 0)
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        // Replicas keeping up: batches run back to back, no throttle.
        /// Asks the run to stop after `batches` batches (the policy asks once per batch).
        func stopAfter(_ batches: Int) -> () -> Bool {
            var asked = 0
            return {
                asked += 1
                return asked > batches
            }
        }
        // The table was just written: let the replica catch up before the first run.
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) { (try replayLag(db) ?? .infinity) < Double(limit) / 4 }, "lag \(String(describing: try? replayLag(db)))")
        let first = try #require(try runner.runBatches(id, settings: settings, stopRequested: stopAfter(3)))
        #expect(first.batches == 3)
        #expect(try store.require(id).throttle == nil)

        // Replay paused on the replica while the primary writes: the lag grows past the limit.
        try standby.query("SELECT pg_wal_replay_pause()")
        try db.query("INSERT INTO ballast (filler) SELECT repeat('x', 1000) FROM generate_series(1, 4000)")
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) { (try replayLag(db) ?? 0) > Double(limit) }, "lag \(String(describing: try? replayLag(db)))")
        let throttled = try #require(try runner.runBatches(id, settings: settings, stopRequested: stopAfter(5)))
        let state = try #require(try store.require(id).throttle, "not throttled after \(throttled.batches) batches")
        #expect(state.indicator == "ReplicationLag" && state.value > Double(limit) && state.limit == Double(limit))
        #expect(state.pauseSeconds > 1, "the pause is not stretched: \(state)")
        #expect(throttled.batches == 1, "batches kept running back to back while throttled: \(throttled.batches)")
        guard case .chain = throttled.decision else { Issue.record("expected a later hand-over, got \(throttled.decision)"); return }
        // A new execution job right away: still throttled, it runs nothing.
        let held = try #require(try runner.runBatches(id, settings: settings, stopRequested: stopAfter(5)))
        #expect(held.batches == 0)
        // Shown on status/show.
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let show = try ProcessRunner.conveyor(["migrations", "show", String(id)], redisURL: redisURL, databaseURL: server.url)
        #expect(show.stdout.contains("throttled") && show.stdout.contains("ReplicationLag"), "\(show.stdout)")
        let status = try JSONValue.parse(try ProcessRunner.conveyor(["migrations", "status", "--json"], redisURL: redisURL, databaseURL: server.url).stdout)
        #expect(status[0]?["throttle"]?["indicator"]?.stringValue == "ReplicationLag")
        #expect((status[0]?["throttle"]?["limit"]?.doubleValue ?? 0) == Double(limit))
        // And on the web page and in /metrics.
        let port = try PrivateRedisServer.freePort()
        let web = try ConveyorProcess(["web", "--bind", "127.0.0.1:\(port)"], redisURL: redisURL, databaseURL: server.url)
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { web.log.contains("listening on") }, "\(web.log)")
        let page = try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/admin/background_migrations/\(id)"]).stdout
        #expect(page.contains("ReplicationLag"), "throttle reason on the migration page")
        let metrics = try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"]).stdout
        let throttledLine = metrics.split(separator: "\n").first { $0.hasPrefix("conveyor_batched_migration_throttled{") && $0.contains("indicator=\"ReplicationLag\"") }
        #expect(throttledLine.flatMap { Double($0.split(separator: " ").last ?? "") } == 1, "\(metrics)")
        let limitLine = metrics.split(separator: "\n").first { $0.hasPrefix("conveyor_batched_migration_throttle_limit{") }
        #expect(limitLine.flatMap { Double($0.split(separator: " ").last ?? "") } == Double(limit), "\(String(describing: limitLine))")
        #expect(web.terminate() == 0)

        // Replay resumed: the lag falls, the throttle releases and batches run again.
        try standby.query("SELECT pg_wal_replay_resume()")
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) { (try replayLag(db) ?? .infinity) < Double(limit) })
        let released = try #require(try runner.runBatches(id, settings: settings, stopRequested: stopAfter(3)))
        #expect(released.batches == 3)
        #expect(try store.require(id).throttle == nil)
        var rounds = 0
        while try store.require(id).status == .active, rounds < 100 {
            _ = try runner.runBatches(id, settings: settings)
            rounds += 1
        }
        #expect(try store.require(id).status == .finished)
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 20_000, wrong: 0, notExactlyOnce: 0))
    }

    @Test("the WAL-rate limit: batches writing faster than throttle_wal_bytes_per_second are throttled (WALRate shown); the limit off releases them")
    func throttleOnWALRate() throws {
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "walrate")
        try Schema.setUp(db)
        try MigrationFixtures.createEvents(db, rows: 20_000)
        let limit = 10_000
        try MigrationSettings.store("throttle_wal_bytes_per_second", String(limit), db)
        try MigrationSettings.store("optimize_batched_migrations", "false", db)
        let store = BatchedMigrationStore(db: db)
        // ~0.4 s a batch (4 pauses of 100 ms): the rate is sampled once a second.
        let id = try queueCopy(store, batchSize: 500, subBatchSize: 100, pauseMilliseconds: 100)
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        // (stopRequested is also asked between sub-batches: a deadline, not a count.)
        let deadline = ContinuousClock.now + .seconds(6)
        let throttled = try #require(try runner.runBatches(id, settings: try MigrationSettings.load(db), stopRequested: { ContinuousClock.now > deadline }))
        // 500 rows a batch write well over 10,000 bytes of WAL a second: throttled at the
        // second sample (a second after the first), after a few batches, long before the
        // deadline would have let ~15 run.
        let state = try #require(try store.require(id).throttle, "not throttled after \(throttled.batches) batches")
        #expect(state.indicator == "WALRate" && state.value > Double(limit) && state.limit == Double(limit), "\(state)")
        #expect(state.pauseSeconds > 1, "the pause is not stretched: \(state)")
        #expect(throttled.batches >= 2 && throttled.batches < 8, "\(throttled.batches) batches")
        guard case .chain = throttled.decision else { Issue.record("expected a later hand-over, got \(throttled.decision)"); return }
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let show = try ProcessRunner.conveyor(["migrations", "show", String(id)], redisURL: redisURL, databaseURL: databaseURL)
        #expect(show.stdout.contains("throttled") && show.stdout.contains("WALRate"), "\(show.stdout)")

        // The limit off: the next run releases the throttle and runs batches back to back.
        try MigrationSettings.store("throttle_wal_bytes_per_second", "0", db)
        let releaseDeadline = ContinuousClock.now + .seconds(2)
        let released = try #require(try runner.runBatches(id, settings: try MigrationSettings.load(db), stopRequested: { ContinuousClock.now > releaseDeadline }))
        #expect(released.batches >= 3, "\(released.batches) batches in 2 s")
        #expect(try store.require(id).throttle == nil)
    }
}
