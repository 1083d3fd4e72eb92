import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Logging
import Testing
import TestSupport

/// Copies `n` into `a` for the rows in a state given as job argument, walking
/// `(partition_id, id)`: a user job declaring GitLab's `cursor` and `scope_to`.
struct CopyRowsInState: BatchedMigrationJob {
    static let className = "CopyRowsInState"
    static let cursor: [String]? = ["partition_id", "id"]
    init() {}

    static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {
        guard arguments[0]?.stringValue != nil else { throw MigrationError(.invalidArguments, "\(className) expects [state]") }
    }

    static func scope(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws -> PostgresQuery? {
        "\(identifier: try db.resolveColumn("state", in: table)) = \(arguments[0]?.stringValue ?? "")"
    }

    func perform(_ batch: BatchedJobContext) throws {
        try batch.eachSubBatch { subBatch in
            try batch.db.query("UPDATE \(table: batch.table) SET a = n WHERE \(subBatch.condition)").affectedRows
        }
    }
}

/// A scope naming a column the table does not have.
struct CopyWithBadScope: BatchedMigrationJob {
    static let className = "CopyWithBadScope"
    init() {}
    static func scope(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws -> PostgresQuery? {
        "\(unescaped: "\"archived\"") = \(true)"
    }
    func perform(_ batch: BatchedJobContext) throws {}
}

/// Written for integer keys (`BETWEEN first AND last`), queued on a cursor walk.
struct IntegerOnlyJob: BatchedMigrationJob {
    static let className = "IntegerOnlyJob"
    init() {}
    func perform(_ batch: BatchedJobContext) throws {
        try batch.eachSubBatch { first, last in
            try batch.db.query("UPDATE \(table: batch.table) SET a = n WHERE id BETWEEN \(first) AND \(last)").affectedRows
        }
    }
}

@Suite("Batching contracts: bad input, scopes, the schema upgrade, waking workers")
struct BatchingContractTests {
    var registry: BatchedJobRegistry {
        var jobs = BatchedJobRegistry.builtIn
        jobs.register(CopyRowsInState.self)
        jobs.register(CopyWithBadScope.self)
        jobs.register(IntegerOnlyJob.self)
        return jobs
    }

    func options(batch: Int, sub: Int) -> BatchedMigrationStore.QueueOptions {
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = batch
        options.subBatchSize = sub
        options.interval = 0
        options.pauseMilliseconds = 0
        return options
    }

    @Test("bad input is refused before anything is queued, each time with one line naming the problem")
    func badInput() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "badinput")
        try CursorFixtures.createPartitioned(db, rows: 100)
        try db.execute("CREATE TABLE y (id int)")
        let copy = #"[["n"],["a"]]"#
        let cases: [([String], String)] = [
            (["pevents", "partition_id", copy, "--batch-class", "Nope"], "unknown batch class 'Nope' (known: PrimaryKeyBatchingStrategy, LooseIndexScanBatchingStrategy"),
            (["pevents", "id", copy, "--cursor", "id,partition_id"], "cursor (id, partition_id) is not backed by a unique index or primary key on exactly those columns"),
            (["pevents", "partition_id", copy, "--cursor", "partition_id,nope"], "cursor column 'nope' does not exist in table"),
            (["pevents", "nope", copy], "column 'nope' does not exist in table"),
            (["pevents", "id", copy, "--cursor", "partition_id,id"], "COLUMN must be the cursor's first column"),
            (["pevents", "partition_id", #"[["n"]]"#, "--cursor", "partition_id,id"], "expects job arguments"),
            (["pevents", "partition_id", #"[["n"],["nope"]]"#, "--cursor", "partition_id,id"], "column 'nope' does not exist"),
            (["pevents", "partition_id", copy, "--cursor", "partition_id,id", "--min-value", "5"], "--min-value and --max-value bound integer walks"),
            (["pevents", "id", copy, "--batch-class", "LooseIndexScanBatchingStrategy"], "needs a btree index whose first column is 'id'"),
            (["pevents", "partition_id", copy, "--batch-class", "LooseIndexScanBatchingStrategy", "--cursor", "partition_id,id"], "takes no cursor"),
            (["pevents", "partition_id", copy, "--cursor", "partition_id,,id"], "empty column name"),
            (["pevents", "partition_id", copy, "--cursor", "partition_id,id; DROP TABLE y"], "does not exist"),
            (["pevents; DROP TABLE y", "partition_id", copy, "--cursor", "partition_id,id"], "refusing"),
        ]
        for (arguments, expected) in cases {
            let output = try ProcessRunner.conveyor(["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob"] + arguments, redisURL: redisURL, databaseURL: databaseURL)
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(output.status == 1, "\(arguments)")
            #expect(message.contains(expected), "\(arguments): \(message)")
            #expect(!message.contains("\n"), "one line: \(message)")
        }
        #expect(try db.query("SELECT count(*) AS n FROM batched_background_migrations")[0]["n"].int() == 0)
        #expect(try db.query("SELECT to_regclass('y') IS NOT NULL AS present")[0]["present"].bool())
    }

    @Test("a job's cursor and scope: batches and sub-batches count only rows in scope, the estimate too; the worker's path runs it to the end and leaves other rows alone")
    func scopedCursorJob() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres(label: "scope")
        try CursorFixtures.createPartitioned(db, rows: 21_000, partitions: 7)
        try db.execute("""
            ALTER TABLE pevents DISABLE TRIGGER count_updates;
            ALTER TABLE pevents ADD COLUMN state text NOT NULL DEFAULT 'open';
            UPDATE pevents SET state = 'closed' WHERE id % 3 = 0;
            ALTER TABLE pevents ENABLE TRIGGER count_updates;
            ANALYZE pevents;
            """)
        try Schema.setUp(db)
        let store = BatchedMigrationStore(db: db)
        let configuration = MigrationConfiguration(jobClassName: "CopyRowsInState", tableName: "pevents", columnName: "partition_id", jobArguments: ["open"])
        let migration = try store.queue(configuration, options: options(batch: 1000, sub: 300), jobs: registry)
        #expect(migration.cursorColumns == ["partition_id", "id"], "the job's own cursor")
        let estimate = try #require(migration.totalTupleCount)
        #expect(estimate > 11_000 && estimate < 17_000, "estimate of the 14,000 open rows: \(estimate)")

        let runner = BatchedMigrationRunner(db: db, jobs: registry, logger: Logger(label: "test"))
        var runs = 0
        while try store.require(migration.id).status == .active, runs < 100 {
            _ = try runner.runBatches(migration.id, settings: MigrationSettings())
            runs += 1
        }
        #expect(try store.require(migration.id).status == .finished)
        let rows = try db.query("""
            SELECT count(*) FILTER (WHERE state = 'open' AND a = n AND updates = 1) AS open_done,
                   count(*) FILTER (WHERE state = 'closed' AND a = 0 AND updates = 0) AS closed_untouched FROM pevents
            """)[0]
        #expect(try rows["open_done"].int() == 14_000)
        #expect(try rows["closed_untouched"].int() == 7_000)
        let jobs = try store.jobs(of: migration.id)
        #expect(jobs.count == 14, "batches of 1,000 rows in scope")
        #expect(jobs.allSatisfy { $0.rows == 1000 && $0.metrics["sub_batches"]?.intValue == 4 })
    }

    @Test("a scope naming an unknown column is refused when queued")
    func badScope() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres(label: "badscope")
        try CursorFixtures.createPartitioned(db, rows: 10)
        try Schema.setUp(db)
        let configuration = MigrationConfiguration(jobClassName: "CopyWithBadScope", tableName: "pevents", columnName: "partition_id")
        var options = options(batch: 10, sub: 10)
        options.cursor = ["partition_id", "id"]
        do {
            _ = try BatchedMigrationStore(db: db).queue(configuration, options: options, jobs: registry)
            Issue.record("queued a migration with a bad scope")
        } catch let error as MigrationError {
            #expect(error.message.contains("the scope of CopyWithBadScope does not fit table"))
            #expect(error.message.contains("column \"archived\" does not exist"))
        }
        #expect(try db.query("SELECT count(*) AS n FROM batched_background_migrations")[0]["n"].int() == 0)
    }

    @Test("a job written for integer bounds, queued on a cursor walk, fails saying what to use instead")
    func integerJobOnCursor() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres(label: "intjob")
        try CursorFixtures.createPartitioned(db, rows: 100)
        try Schema.setUp(db)
        var options = options(batch: 100, sub: 50)
        options.cursor = ["partition_id", "id"]
        let configuration = MigrationConfiguration(jobClassName: "IntegerOnlyJob", tableName: "pevents", columnName: "partition_id")
        let migration = try BatchedMigrationStore(db: db).queue(configuration, options: options, jobs: registry)
        let runner = BatchedMigrationRunner(db: db, jobs: registry, logger: Logger(label: "test"))
        #expect(throws: MigrationError.self) { try runner.finalize(configuration, settings: MigrationSettings()) }
        let job = try #require(try runner.store.jobs(of: migration.id).first)
        let logs = try runner.store.transitionLogs(of: job.id)
        #expect(logs.contains { $0.exceptionMessage?.contains("batches by a cursor (partition_id, id), which has no integer bounds") == true })
    }

    @Test("setup upgrades a version-1 database in place with a migration half done and a batch interrupted: nothing is lost and a worker finishes it")
    func schemaUpgrade() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "upgrade")
        try Schema.setUp(db, through: 1)
        #expect(try Schema.currentVersion(db) == 1)
        try MigrationFixtures.createEvents(db, rows: 20_000)
        // What the release that made version 1 leaves behind mid-run: ten batches succeeded
        // (and their rows copied), the eleventh interrupted by a crash while running.
        let id = try db.query("""
            INSERT INTO batched_background_migrations
              (job_class_name, table_name, column_name, job_arguments, min_value, max_value, batch_size, sub_batch_size, "interval",
               pause_ms, status, total_tuple_count, started_at)
            VALUES ('CopyColumnUsingBackgroundMigrationJob', 'events', 'id', '[["id"],["id_convert_to_bigint"]]', 1, 20000, 1000, 500, 0, 0, 1, 20000, now())
            RETURNING id
            """)[0]["id"].int64()
        try db.query("""
            INSERT INTO batched_background_migration_jobs
              (batched_background_migration_id, min_value, max_value, batch_size, sub_batch_size, pause_ms, status, attempts, started_at, finished_at, metrics)
            SELECT \(id), k * 1000 + 1, (k + 1) * 1000, 1000, 500, 0, CASE WHEN k < 10 THEN 3 ELSE 1 END, 1, now(),
                   CASE WHEN k < 10 THEN now() END, CASE WHEN k < 10 THEN '{"rows": 1000}'::jsonb ELSE '{}'::jsonb END
            FROM generate_series(0, 10) k
            """)
        try db.execute("UPDATE events SET id_convert_to_bigint = id WHERE id <= 10000")
        let before = try db.query("SELECT id, status, attempts, min_value, max_value FROM batched_background_migration_jobs ORDER BY id").map { try $0["id"].int64() }

        // A worker of this release waits for the upgrade instead of failing on the old tables.
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { worker.log.contains("wait for the schema upgrade") }, "\(worker.log.suffix(1000))")
        #expect(try BatchedMigrationStore.jobCount(db, migration: id) == 11)

        let setup = try ProcessRunner.conveyor(["migrations", "setup"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(setup.status == 0, "\(setup.stderr)")
        #expect(setup.stdout.contains("applied schema versions 2, 3"), "\(setup.stdout)")
        #expect(try Schema.currentVersion(db) == Schema.latestVersion)
        let columns = try db.query("""
            SELECT table_name || '.' || column_name AS c FROM information_schema.columns
            WHERE table_schema = current_schema() AND column_name IN ('min_cursor', 'max_cursor', 'cursor_columns', 'last_cursor') ORDER BY 1
            """).map { try $0["c"].string() }
        #expect(columns == [
            "batched_background_migration_jobs.max_cursor", "batched_background_migration_jobs.min_cursor",
            "batched_background_migrations.cursor_columns", "batched_background_migrations.last_cursor",
            "batched_background_migrations.max_cursor", "batched_background_migrations.min_cursor",
        ])
        let upgraded = try BatchedMigrationStore(db: db).require(id)
        #expect(upgraded.status == .active && upgraded.minValue == 1 && upgraded.maxValue == 20_000 && upgraded.cursorColumns == nil)
        #expect(try db.query("SELECT id FROM batched_background_migration_jobs ORDER BY id").map { try $0["id"].int64() } == before)
        #expect(try ProcessRunner.conveyor(["migrations", "setup"], redisURL: redisURL, databaseURL: databaseURL).stdout.contains("up to date"))

        let finished = try TestEnvironment.eventually(timeout: .seconds(120)) { try BatchedMigrationStore(db: db).require(id).status == .finished }
        #expect(finished, "\(worker.log.suffix(2000))")
        #expect(worker.terminate() == 0)
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 20_000, wrong: 0, notExactlyOnce: 0))
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)
        #expect(try BatchedMigrationStore.jobCount(db, migration: id) == 20, "the interrupted batch was retried, not recreated")
    }

    @Test("queueing, resuming and switching migrations on notify the channel worker schedulers listen on")
    func notifications() throws {
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "notify")
        try MigrationFixtures.createEvents(db, rows: 100)
        try Schema.setUp(db)
        let listener = try PostgresConnection(connectionString: databaseURL)
        try listener.listen(SQLIdentifier(BatchedMigrationScheduler.channel))
        func notified() throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if try !listener.notifications(waitingUpTo: .milliseconds(100)).isEmpty { return true }
            }
            return false
        }
        let store = BatchedMigrationStore(db: db)
        let migration = try store.queue(
            MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]),
            options: options(batch: 100, sub: 100), jobs: .builtIn)
        #expect(try notified(), "queued")
        try store.apply(.pause, to: migration.id)
        try store.apply(.execute, to: migration.id)
        #expect(try notified(), "resumed")
        try MigrationSettings.store("execute_batched_migrations_on_schedule", "true", db)
        #expect(try notified(), "switched on")
    }

    @Test("with an interval, a worker runs one batch per interval: the next execution job is scheduled for when it has elapsed")
    func intervalRespected() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "interval")
        try MigrationFixtures.createEvents(db, rows: 4000)
        let queued = try ProcessRunner.conveyor(
            ["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#,
             "--batch-size", "1000", "--sub-batch-size", "1000", "--interval", "1", "--pause-ms", "0", "--json"],
            redisURL: redisURL, databaseURL: databaseURL)
        let id = try #require(try JSONValue.parse(queued.stdout)["id"]?.int64Value)
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try BatchedMigrationStore(db: db).require(id).status == .finished })
        #expect(worker.terminate() == 0)
        let gaps = try db.query("""
            SELECT extract(epoch FROM created_at - lag(created_at) OVER (ORDER BY id))::float8 AS gap
            FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id) ORDER BY id
            """).compactMap { try $0["gap"].optionalDouble() }
        #expect(gaps.count == 3)
        #expect(gaps.allSatisfy { $0 >= 1 - BatchRunPolicy.intervalTolerance }, "batches \(gaps) s apart with a 1 s interval")
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 4000, wrong: 0, notExactlyOnce: 0))
    }

    @Test("a worker runs a migration's batches back to back while it drains 5,000 RecordJobs from another queue: both complete, every row once")
    func alongsideOtherQueues() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "alongside")
        try MigrationFixtures.createEvents(db, rows: 60_000)
        try RecordJob.createTable(db)
        try QueueClient(redis: redis).pushBulk((0..<5000).map { JobPayload(className: "RecordJob", args: [.string("k-\($0)")]) })
        let queued = try ProcessRunner.conveyor(
            ["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#,
             "--batch-size", "2000", "--sub-batch-size", "2000", "--interval", "0", "--pause-ms", "0", "--json"],
            redisURL: redisURL, databaseURL: databaseURL)
        let id = try #require(try JSONValue.parse(queued.stdout)["id"]?.int64Value)
        let worker = try ConveyorProcess(["worker", "-c", "4"], redisURL: redisURL, databaseURL: databaseURL)
        let done = try TestEnvironment.eventually(timeout: .seconds(180), interval: .milliseconds(200)) {
            try BatchedMigrationStore(db: db).require(id).status == .finished
                && db.query("SELECT count(*) AS n FROM conveyor_records")[0]["n"].int() == 5000
        }
        #expect(done, "\(worker.log.suffix(2000))")
        #expect(worker.terminate() == 0)
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 60_000, wrong: 0, notExactlyOnce: 0))
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)
    }
}

extension BatchedMigrationStore {
    static func jobCount(_ db: PostgresConnection, migration: Int64) throws -> Int {
        try db.query("SELECT count(*) AS n FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(migration)")[0]["n"].int()
    }
}
