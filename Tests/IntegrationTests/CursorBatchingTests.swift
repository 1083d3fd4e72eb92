import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Logging
import Testing
import TestSupport

/// Batching beyond integer keys, end to end against the real servers: cursor walks over
/// `(partition_id, id)`, uuid and text keys, loose index scans over a non-unique column,
/// each migrated completely by worker processes and by `finalize`.
@Suite("Cursor and loose index scan batching")
struct CursorBatchingTests {
    struct Servers {
        let db: PostgresConnection
        let databaseURL: String
        let redisURL: String

        init(_ label: String) throws {
            (_, redisURL) = try TestEnvironment.isolatedRedis()
            (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: label)
        }

        func cli(_ arguments: [String]) throws -> ProcessRunner.Output {
            try ProcessRunner.conveyor(arguments, redisURL: redisURL, databaseURL: databaseURL, timeout: .seconds(600))
        }

        /// `migrations queue … --json`, returning the migration's JSON.
        func queue(_ arguments: [String]) throws -> JSONValue {
            let output = try cli(["migrations", "queue"] + arguments + ["--json"])
            #expect(output.status == 0, "\(output.stderr)")
            return try JSONValue.parse(output.stdout)
        }

        func status(_ id: Int64) throws -> BatchedMigrationStatus { try BatchedMigrationStore(db: db).require(id).status }

        /// Runs `workers` worker processes until migration `id` is finished.
        func runByWorkers(_ id: Int64, workers: Int = 2, timeout: Duration = .seconds(300)) throws {
            let processes = try (0..<workers).map { _ in try ConveyorProcess(["worker", "-c", "3"], redisURL: redisURL, databaseURL: databaseURL) }
            let finished = try TestEnvironment.eventually(timeout: timeout, interval: .milliseconds(200)) { try status(id) == .finished }
            let reached = try status(id)
            #expect(finished, "migration \(id) is \(reached); log: \(processes.first?.log.suffix(1500) ?? "")")
            for process in processes { #expect(process.terminate() == 0) }
        }

        func jobs(_ id: Int64) throws -> [BatchedJob] { try BatchedMigrationStore(db: db).jobs(of: id, limit: 100_000) }
    }

    @Test("a 1M-row (partition_id, id) table: workers walk the cursor, every row copied exactly once by jobs whose cursor ranges tile the table; finalize --concurrency 2 runs a second migration of it")
    func partitionedMillionRows() throws {
        let s = try Servers("cursor1m")
        try CursorFixtures.createPartitioned(s.db, rows: 1_000_000)
        let queued = try s.queue([
            "CopyColumnUsingBackgroundMigrationJob", "pevents", "partition_id", #"[["n"],["a"]]"#, "--cursor", "partition_id,id",
            "--batch-size", "25000", "--sub-batch-size", "5000", "--interval", "0", "--pause-ms", "0",
        ])
        let id = try #require(queued["id"]?.int64Value)
        #expect(queued["batch_class_name"]?.stringValue == "PrimaryKeyBatchingStrategy")
        #expect(queued["cursor_columns"] == ["partition_id", "id"])
        #expect(queued["min_cursor"] == [1, 16])  // row 16 is the first of partition 1
        #expect(queued["max_cursor"] == [16, 999_999])
        #expect(queued["min_value"] == .null)
        let estimate = try #require(queued["total_tuple_count"]?.intValue)
        #expect(estimate > 500_000 && estimate < 2_000_000, "row estimate \(estimate)")

        try s.runByWorkers(id)
        #expect(try CursorFixtures.state(s.db, table: "pevents", source: "n", target: "a", updates: 1) == .init(rows: 1_000_000, wrong: 0, notExactly: 0))
        let jobs = try s.jobs(id)
        #expect(jobs.count == 40)
        #expect(jobs.allSatisfy { $0.status == .succeeded && $0.minCursor != nil && $0.maxCursor != nil })
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "pevents", migration: id, columns: ["partition_id", "id"], types: ["int", "bigint"]) == 1_000_000)

        let status = try JSONValue.parse(try s.cli(["migrations", "status", "--json"]).stdout)
        #expect(status[0]?["last_cursor"] == [16, 999_999])
        #expect(status[0]?["position"] == [16, 999_999])
        #expect(status[0]?["progress"]?.doubleValue == 100)
        let show = try s.cli(["migrations", "show", String(id)])
        #expect(show.stdout.contains("with cursor (partition_id, id)"), "\(show.stdout)")
        #expect(show.stdout.contains("[1,16]...[16,999999]"))

        // The same table, another column, by finalize with two lanes.
        let second = try #require(try s.queue([
            "CopyColumnUsingBackgroundMigrationJob", "pevents", "partition_id", #"[["n"],["b"]]"#, "--cursor", "partition_id,id",
            "--batch-size", "50000", "--sub-batch-size", "25000", "--interval", "0", "--pause-ms", "0",
        ])["id"]?.int64Value)
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "pevents", "partition_id", #"[["n"],["b"]]"#, "--concurrency", "2"])
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(try s.status(second) == .finished)
        #expect(try CursorFixtures.state(s.db, table: "pevents", source: "n", target: "b", updates: 2) == .init(rows: 1_000_000, wrong: 0, notExactly: 0))
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "pevents", migration: second, columns: ["partition_id", "id"], types: ["int", "bigint"]) == 1_000_000)
    }

    @Test("a uuid-keyed table is walked as a one-column cursor without --cursor: by workers, then by finalize")
    func uuidKeys() throws {
        let s = try Servers("cursoruuid")
        try CursorFixtures.createUUIDKeyed(s.db, rows: 30_000)
        let queued = try s.queue(["CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["a"]]"#, "--batch-size", "2000", "--sub-batch-size", "500", "--interval", "0", "--pause-ms", "0"])
        let id = try #require(queued["id"]?.int64Value)
        #expect(queued["cursor_columns"] == ["id"])
        #expect(queued["batching"]?.stringValue == "PrimaryKeyBatchingStrategy with cursor (id)")
        #expect(queued["min_cursor"]?[0]?.stringValue?.count == 36)
        try s.runByWorkers(id)
        #expect(try CursorFixtures.state(s.db, table: "docs", source: "n", target: "a", updates: 1) == .init(rows: 30_000, wrong: 0, notExactly: 0))
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "docs", migration: id, columns: ["id"], types: ["uuid"]) == 30_000)

        let second = try #require(try s.queue(["CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["b"]]"#, "--batch-size", "3000", "--interval", "0"])["id"]?.int64Value)
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["b"]]"#])
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(try s.status(second) == .finished)
        #expect(try CursorFixtures.state(s.db, table: "docs", source: "n", target: "b", updates: 2).wrong == 0)
        #expect(try s.cli(["migrations", "ensure-finished", "CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["b"]]"#]).status == 0)
    }

    @Test("a text-keyed table (spaces, quotes, accents, CJK) walked by --cursor name: by workers, then by finalize")
    func textKeys() throws {
        let s = try Servers("cursortext")
        try CursorFixtures.createTextKeyed(s.db, rows: 30_000)
        let queued = try s.queue(["CopyColumnUsingBackgroundMigrationJob", "tags", "name", #"[["n"],["a"]]"#, "--cursor", "name", "--batch-size", "2500", "--sub-batch-size", "1000", "--interval", "0", "--pause-ms", "0"])
        let id = try #require(queued["id"]?.int64Value)
        try s.runByWorkers(id)
        #expect(try CursorFixtures.state(s.db, table: "tags", source: "n", target: "a", updates: 1) == .init(rows: 30_000, wrong: 0, notExactly: 0))
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "tags", migration: id, columns: ["name"], types: ["text"]) == 30_000)

        _ = try s.queue(["CopyColumnUsingBackgroundMigrationJob", "tags", "name", #"[["n"],["b"]]"#, "--cursor", "name", "--batch-size", "4000", "--interval", "0"])
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "tags", "name", #"[["n"],["b"]]"#, "--concurrency", "3"])
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(try CursorFixtures.state(s.db, table: "tags", source: "n", target: "b", updates: 2) == .init(rows: 30_000, wrong: 0, notExactly: 0))
    }

    @Test("a (timestamptz, int) cursor: microsecond timestamps round-trip through min_cursor/max_cursor")
    func timestampCursor() throws {
        let s = try Servers("cursorts")
        try s.db.execute("""
            CREATE TABLE readings (at timestamptz NOT NULL, sensor int NOT NULL, n bigint NOT NULL, a bigint NOT NULL DEFAULT 0,
              PRIMARY KEY (at, sensor));
            INSERT INTO readings SELECT timestamptz '2025-03-30 00:59:59.999999+00' + (g / 3) * interval '1.000001 second', g % 3, g
              FROM generate_series(1, 9000) g;
            ANALYZE readings;
            """)
        let id = try #require(try s.queue(["CopyColumnUsingBackgroundMigrationJob", "readings", "at", #"[["n"],["a"]]"#, "--cursor", "at,sensor", "--batch-size", "700", "--sub-batch-size", "100", "--interval", "0", "--pause-ms", "0"])["id"]?.int64Value)
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "readings", "at", #"[["n"],["a"]]"#])
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(try s.status(id) == .finished)
        #expect(try s.db.query("SELECT count(*) FILTER (WHERE a <> n) AS wrong, count(*) AS n FROM readings")[0]["wrong"].int() == 0)
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "readings", migration: id, columns: ["at", "sensor"], types: ["timestamptz", "int"]) == 9000)
        #expect(try s.jobs(id).count == 13)
    }

    @Test("LooseIndexScanBatchingStrategy over 300 distinct project ids: batches of distinct values found by a loose index scan, by workers and by finalize")
    func looseIndexScan() throws {
        let s = try Servers("loose")
        try CursorFixtures.createIssues(s.db, rows: 60_000, projects: 300)
        let queued = try s.queue([
            "CopyColumnUsingBackgroundMigrationJob", "issues", "project_id", #"[["n"],["a"]]"#, "--batch-class", "LooseIndexScanBatchingStrategy",
            "--batch-size", "40", "--sub-batch-size", "10", "--interval", "0", "--pause-ms", "0",
        ])
        let id = try #require(queued["id"]?.int64Value)
        #expect(queued["batch_class_name"]?.stringValue == "LooseIndexScanBatchingStrategy")
        #expect(queued["min_value"] == 1 && queued["max_value"] == 300)

        // One batch of 40 distinct values reads about one index entry per value, not the
        // 60,000 rows a DISTINCT over the table would.
        let store = BatchedMigrationStore(db: s.db)
        let migration = try store.require(id)
        func indexTuplesRead() throws -> Int {
            try s.db.query("SELECT pg_stat_force_next_flush()")
            try s.db.query("SELECT pg_stat_clear_snapshot()")
            return try s.db.query("SELECT idx_tup_read::int AS n FROM pg_stat_user_indexes WHERE indexrelname = 'issues_project_id'")[0]["n"].int()
        }
        let before = try indexTuplesRead()
        let batch = try #require(try BatchingStrategy(db: s.db).nextBatch(of: migration, store: store))
        let read = try indexTuplesRead() - before
        #expect(batch == BatchRange(first: BatchCursor(integer: 1), last: BatchCursor(integer: 40)))
        #expect(read < 1000, "the walk read \(read) index entries for 40 values")

        try s.runByWorkers(id)
        #expect(try CursorFixtures.state(s.db, table: "issues", source: "n", target: "a", updates: 1) == .init(rows: 60_000, wrong: 0, notExactly: 0))
        let jobs = try s.jobs(id).sorted { $0.minValue < $1.minValue }
        #expect(jobs.map(\.minValue) == [1, 41, 81, 121, 161, 201, 241, 281])
        #expect(jobs.map(\.maxValue) == [40, 80, 120, 160, 200, 240, 280, 300])
        #expect(try MigrationFixtures.overlappingJobs(s.db, migration: id) == 0)
        #expect(jobs.allSatisfy { ($0.metrics["sub_batches"]?.intValue ?? 0) >= 2 }, "sub-batches of 10 distinct values each")

        _ = try s.queue(["CopyColumnUsingBackgroundMigrationJob", "issues", "project_id", #"[["n"],["b"]]"#, "--batch-class", "LooseIndexScanBatchingStrategy", "--batch-size", "64", "--sub-batch-size", "16", "--interval", "0"])
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "issues", "project_id", #"[["n"],["b"]]"#, "--concurrency", "2"])
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(try CursorFixtures.state(s.db, table: "issues", source: "n", target: "b", updates: 2) == .init(rows: 60_000, wrong: 0, notExactly: 0))
    }

    @Test("a cursor job made to time out shrinks its sub-batch, then is split into two halves at a key — which GitLab cannot do — and both halves succeed")
    func cursorJobSplit() throws {
        let s = try Servers("cursorsplit")
        try CursorFixtures.createPartitioned(s.db, rows: 1000, partitions: 4)
        try s.db.execute("""
            CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.004); RETURN NEW; END $$;
            CREATE TRIGGER slow_row BEFORE UPDATE ON pevents FOR EACH ROW EXECUTE FUNCTION slow_row();
            """)
        try Schema.setUp(s.db)
        try MigrationSettings.store("sub_batch_statement_timeout_ms", "150", s.db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 100
        options.interval = 0
        options.pauseMilliseconds = 0
        options.cursor = ["partition_id", "id"]
        let configuration = MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "pevents", columnName: "partition_id", jobArguments: [["n"], ["a"]])
        let migration = try BatchedMigrationStore(db: s.db).queue(configuration, options: options, jobs: .builtIn)
        let runner = BatchedMigrationRunner(db: s.db, jobs: .builtIn, logger: Logger(label: "test"))
        let settings = try MigrationSettings.load(s.db)
        for expected in [75, 56] {
            _ = try runner.withTableLease("pevents") { try runner.runStep(try runner.store.require(migration.id), settings: settings) }
            let job = try #require(try runner.store.jobs(of: migration.id).first)
            #expect(job.status == .failed)
            #expect(job.subBatchSize == expected)
        }
        _ = try runner.withTableLease("pevents") { try runner.runStep(try runner.store.require(migration.id), settings: settings) }
        let halves = try runner.store.jobs(of: migration.id)
        #expect(halves.count == 2, "the cursor job was split in two")
        #expect(halves.map(\.batchSize) == [500, 500])
        #expect(halves.allSatisfy { $0.status == .failed && $0.attempts == 0 })
        // The halves tile the original range: [first … 500th key] and [501st key … last].
        let keys = try s.db.query("SELECT jsonb_build_array(partition_id, id)::text AS k FROM pevents ORDER BY partition_id, id").map { try BatchCursor(JSONValue.parse(try $0["k"].string())) }
        #expect(halves[0].minCursor == keys[0] && halves[0].maxCursor == keys[499])
        #expect(halves[1].minCursor == keys[500] && halves[1].maxCursor == keys[999])
        #expect(try runner.store.transitionLogs(of: halves[0].id).filter { $0.exceptionClass == "PG::QueryCanceled" }.count == 3)

        try s.db.execute("DROP TRIGGER slow_row ON pevents")
        let final = try runner.finalize(configuration, settings: settings)
        #expect(final.status == .finished)
        #expect(try runner.store.jobs(of: migration.id).map(\.status) == [.succeeded, .succeeded])
        #expect(try CursorFixtures.state(s.db, table: "pevents", source: "n", target: "a", updates: 1) == .init(rows: 1000, wrong: 0, notExactly: 0))
    }

    @Test("retry splits a failed cursor job too: the migration finishes after the fix")
    func cursorRetry() throws {
        let s = try Servers("cursorretry")
        try CursorFixtures.createUUIDKeyed(s.db, rows: 4000)
        let refused = try s.db.query("SELECT id::text AS id FROM docs ORDER BY id OFFSET 2500 LIMIT 1")[0]["id"].string()
        try s.db.execute("""
            CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.id = '\(refused)' THEN RAISE EXCEPTION 'cannot migrate %', NEW.id; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_row BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_row();
            """)
        let id = try #require(try s.queue(["CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["a"]]"#, "--batch-size", "1000", "--sub-batch-size", "250", "--interval", "0", "--pause-ms", "0"])["id"]?.int64Value)
        let finalize = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["a"]]"#])
        #expect(finalize.status == 1)
        #expect(try s.status(id) == .failed)
        try s.db.execute("DROP TRIGGER refuse_row ON docs")
        let retry = try s.cli(["migrations", "retry", String(id)])
        #expect(retry.status == 0, "\(retry.stderr)")
        let jobs = try s.jobs(id)
        #expect(jobs.count == 5, "the failed batch of 1000 was split into two of 500")
        let again = try s.cli(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["a"]]"#])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try CursorFixtures.state(s.db, table: "docs", source: "n", target: "a", updates: 1).wrong == 0)
        #expect(try CursorFixtures.rowsCoveredByJobs(s.db, table: "docs", migration: id, columns: ["id"], types: ["uuid"]) == 4000)
    }
}
