import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Logging
import Testing
import TestSupport

/// `conveyor migrations estimate` against the real PostgreSQL: sampled batches rolled
/// back (the table as it was, no migration or job rows), sane numbers for every batching
/// strategy, refusals; and the live ETA with its range on status, show, web and /metrics.
@Suite("Estimate and live ETA")
struct EstimateTests {
    struct Servers {
        let db: PostgresConnection
        let databaseURL: String
        let redisURL: String

        init(_ label: String) throws {
            (_, redisURL) = try TestEnvironment.isolatedRedis()
            (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: label)
            try Schema.setUp(db)
        }

        func cli(_ arguments: [String]) throws -> ProcessRunner.Output {
            try ProcessRunner.conveyor(arguments, redisURL: redisURL, databaseURL: databaseURL, timeout: .seconds(600))
        }

        func estimate(_ arguments: [String]) throws -> JSONValue {
            let output = try cli(["migrations", "estimate"] + arguments + ["--json"])
            #expect(output.status == 0, "\(output.stderr)")
            return try JSONValue.parse(output.stdout)
        }

        /// Every row's text, hashed in key order, plus each row's xmin-independent content.
        func checksum(_ table: String, order: String) throws -> String {
            try db.query(PostgresQuery(unsafeSQL: "SELECT md5(string_agg(t::text, '|' ORDER BY \(order))) AS sum FROM \(table) t"))[0]["sum"].string()
        }

        func migrationRows() throws -> [Int] {
            let row = try db.query("""
                SELECT (SELECT count(*) FROM batched_background_migrations) AS m, (SELECT count(*) FROM batched_background_migration_jobs) AS j,
                       (SELECT count(*) FROM batched_background_migration_job_transition_logs) AS l
                """)[0]
            return [try row["m"].int(), try row["j"].int(), try row["l"].int()]
        }
    }

    static func expectSane(_ json: JSONValue, rows: Int64, batchSize: Int64, _ comment: String) {
        for field in ["estimated_seconds", "estimated_seconds_low", "estimated_seconds_high", "batches", "sampled_batches", "rows", "wal_bytes",
                      "finalize_seconds", "finalize_seconds_low", "finalize_seconds_high", "downtime_seconds", "downtime_seconds_low", "downtime_seconds_high"] {
            #expect(json[field]?.doubleValue != nil, "\(comment): \(field) missing in \(json.serialized())")
        }
        #expect(json["rows"]?.int64Value == rows, "\(comment)")
        #expect(json["batches"]?.int64Value == (rows + batchSize - 1) / batchSize, "\(comment)")
        let sampled = json["sampled_batches"]?.intValue ?? 0
        #expect(sampled >= 2 && sampled == json["samples"]?.arrayValue?.count, "\(comment): \(sampled) samples")
        for prefix in ["estimated_seconds", "finalize_seconds", "downtime_seconds"] {
            let low = json[prefix + "_low"]?.doubleValue ?? -1, point = json[prefix]?.doubleValue ?? -1, high = json[prefix + "_high"]?.doubleValue ?? -1
            #expect(low > 0 && low <= point && point <= high, "\(comment): \(prefix) \(low) ≤ \(point) ≤ \(high)")
        }
        #expect((json["wal_bytes"]?.int64Value ?? 0) > 0, "\(comment): WAL")
        #expect(json["samples"]?[0]?["fraction"]?.doubleValue == 0 && json["samples"]?[1]?["fraction"]?.doubleValue == 1, "\(comment): GitLab's order")
        #expect(json["slowest_sample"]?["range"]?.stringValue != nil)
        #expect(json["sub_batch_timeout_risk"]?.stringValue == "low", "\(comment)")
    }

    @Test("estimate on a 300,000-row table: the table's checksum is unchanged, no migration, job or log rows exist, and the --json numbers are sane (batches = ⌈rows / batch size⌉)")
    func integerKey() throws {
        let s = try Servers("estint")
        try MigrationFixtures.createEvents(s.db, rows: 300_000)
        try s.db.execute("DELETE FROM events WHERE id % 10 = 0")  // gaps: batches are of existing keys
        let before = try s.checksum("events", order: "id")
        let json = try s.estimate(["CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#,
                                   "--batch-size", "5000", "--sub-batch-size", "1000", "--pause-ms", "10", "--interval", "2", "--budget", "4"])
        Self.expectSane(json, rows: 270_000, batchSize: 5000, "integer key")
        #expect(json["rows_exact"] == true)
        // Every sample changed its rows (then rolled them back): a batch of 5,000 keys (the
        // last one maybe a few less), in sub-batches of 1,000.
        for sample in json["samples"]?.arrayValue ?? [] {
            let keys = sample["keys"]?.intValue ?? 0
            #expect(sample["rows"]?.intValue == keys && (4500...5000).contains(keys), "\(sample.serialized())")
            #expect(sample["sub_batches"]?.intValue == (keys + 999) / 1000, "\(sample.serialized())")
        }
        // Interval 2 s: the optimizer grows batches that take far less (fewer than the 54
        // batches of 5,000), and workers start one every interval but after the last.
        let workerBatches = try #require(json["workers_batches"]?.intValue)
        #expect(workerBatches > 20 && workerBatches < 54, "\(workerBatches) batches by workers")
        #expect((json["estimated_seconds"]?.doubleValue ?? 0) >= Double(workerBatches - 1) * 2)
        #expect((json["estimated_seconds"]?.doubleValue ?? .infinity) < Double(workerBatches) * 2 + 5)
        #expect((json["downtime_seconds"]?.doubleValue ?? 0) < (json["finalize_seconds"]?.doubleValue ?? 0))
        #expect(try s.checksum("events", order: "id") == before)
        #expect(try MigrationFixtures.copyState(s.db).wrong == 270_000)
        #expect(try s.migrationRows() == [0, 0, 0])

        let text = try s.cli(["migrations", "estimate", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#, "--budget", "1"])
        #expect(text.status == 0, "\(text.stderr)")
        for line in ["by workers", "finalize --downtime", "WAL", "slowest sample", "sub-batch timeout", "270,000 (counted)"] {
            #expect(text.stdout.contains(line), "\(line) in:\n\(text.stdout)")
        }
        #expect(try s.checksum("events", order: "id") == before)
        #expect(try s.migrationRows() == [0, 0, 0])
    }

    @Test("estimate walks cursors, uuid keys and loose index scans too, leaving each table as it was")
    func everyStrategy() throws {
        let s = try Servers("eststrat")
        try CursorFixtures.createPartitioned(s.db, rows: 60_000)
        try CursorFixtures.createUUIDKeyed(s.db, rows: 20_000)
        try CursorFixtures.createIssues(s.db, rows: 40_000, projects: 400)
        let sums = try [s.checksum("pevents", order: "partition_id, id"), s.checksum("docs", order: "id"), s.checksum("issues", order: "id")]
        let cursor = try s.estimate(["CopyColumnUsingBackgroundMigrationJob", "pevents", "partition_id", #"[["n"],["a"]]"#, "--cursor", "partition_id,id",
                                     "--batch-size", "2000", "--sub-batch-size", "500", "--budget", "3"])
        Self.expectSane(cursor, rows: 60_000, batchSize: 2000, "cursor")
        let uuid = try s.estimate(["CopyColumnUsingBackgroundMigrationJob", "docs", "id", #"[["n"],["a"]]"#, "--batch-size", "1000", "--budget", "2"])
        Self.expectSane(uuid, rows: 20_000, batchSize: 1000, "uuid")
        let loose = try s.estimate(["CopyColumnUsingBackgroundMigrationJob", "issues", "project_id", #"[["n"],["a"]]"#,
                                    "--batch-class", "LooseIndexScanBatchingStrategy", "--batch-size", "50", "--sub-batch-size", "10", "--budget", "3"])
        #expect(loose["rows"]?.intValue == 40_000 && loose["keys"]?.intValue == 400)
        #expect(loose["batches"]?.intValue == 8, "\(loose.serialized())")
        #expect((loose["samples"]?[0]?["keys"]?.intValue ?? 0) == 50)
        #expect((loose["estimated_seconds_low"]?.doubleValue ?? -1) <= (loose["estimated_seconds"]?.doubleValue ?? 0))
        #expect(try [s.checksum("pevents", order: "partition_id, id"), s.checksum("docs", order: "id"), s.checksum("issues", order: "id")] == sums)
        #expect(try s.migrationRows() == [0, 0, 0])
    }

    @Test("estimate ID covers what is left of a queued migration, writing nothing; an unknown table or class is refused in one line")
    func queuedMigration() throws {
        let s = try Servers("estid")
        try MigrationFixtures.createEvents(s.db, rows: 20_000)
        let queued = try s.cli(["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#,
                                "--batch-size", "1000", "--json"])
        let id = try #require(try JSONValue.parse(queued.stdout)["id"]?.int64Value)
        let runner = BatchedMigrationRunner(db: s.db, jobs: .builtIn, logger: Logger(label: "test"))
        for _ in 0..<5 { _ = try runner.runStep(try BatchedMigrationStore(db: s.db).require(id), settings: MigrationSettings(), adjust: false) }
        let before = try s.checksum("events", order: "id")
        let rowsBefore = try s.migrationRows()
        let json = try s.estimate([String(id), "--budget", "2"])
        #expect(json["migration_id"]?.int64Value == id)
        Self.expectSane(json, rows: 15_000, batchSize: 1000, "queued migration")
        #expect(try s.migrationRows() == rowsBefore)
        #expect(try s.checksum("events", order: "id") == before)

        let unknown = try s.cli(["migrations", "estimate", "CopyColumnUsingBackgroundMigrationJob", "nope", "id", #"[["id"],["id_convert_to_bigint"]]"#])
        #expect(unknown.status != 0 && unknown.stderr.contains("nope"), "\(unknown.stderr)")
        let badClass = try s.cli(["migrations", "estimate", "NoSuchJob", "events", "id"])
        #expect(badClass.status != 0 && badClass.stderr.contains("unknown batched migration job class"), "\(badClass.stderr)")
    }

    struct NoTransactionJob: BatchedMigrationJob {
        static let className = "NoTransactionJob"
        static let runsInTransaction = false
        init() {}
        func perform(_ batch: BatchedJobContext) throws {
            _ = try batch.db.execute("VACUUM \(batch.table.quoted)")
        }
    }

    struct VacuumingJob: BatchedMigrationJob {
        static let className = "VacuumingJob"
        init() {}
        func perform(_ batch: BatchedJobContext) throws {
            try batch.eachSubBatch { (subBatch: SubBatch) in
                _ = try batch.db.query("UPDATE \(table: batch.table) SET payload = 'changed' WHERE \(subBatch.condition)")
                _ = try batch.db.execute("VACUUM \(batch.table.quoted)")
                return 0
            }
        }
    }

    @Test("a job that cannot run in a transaction is refused with a clear message, declared or found out, and the table is unchanged")
    func untransactional() throws {
        let s = try Servers("estnotx")
        try MigrationFixtures.createEvents(s.db, rows: 5000)
        let before = try s.checksum("events", order: "id")
        var jobs = BatchedJobRegistry.builtIn
        jobs.register(NoTransactionJob.self)
        jobs.register(VacuumingJob.self)
        let estimator = MigrationEstimator(db: s.db, jobs: jobs, settings: MigrationSettings(), logger: Logger(label: "test"))
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        for (job, message) in [("NoTransactionJob", "NoTransactionJob cannot run inside a transaction (it declares"), ("VacuumingJob", "VacuumingJob cannot run inside a transaction (")] {
            do {
                _ = try estimator.estimate(MigrationConfiguration(jobClassName: job, tableName: "events", columnName: "id"), options: options, budget: 1)
                Issue.record("\(job) was not refused")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
        #expect(!s.db.inTransaction)
        #expect(try s.checksum("events", order: "id") == before)
        #expect(try s.migrationRows() == [0, 0, 0])
    }

    @Test("a running migration shows an ETA with low ≤ ETA ≤ high for every strategy, on status, show, the web page, the API and /metrics")
    func liveETA() throws {
        let s = try Servers("esteta")
        try MigrationFixtures.createEvents(s.db, rows: 30_000)
        try CursorFixtures.createPartitioned(s.db, rows: 30_000)
        try CursorFixtures.createIssues(s.db, rows: 30_000, projects: 600)
        let store = BatchedMigrationStore(db: s.db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 500
        options.pauseMilliseconds = 0
        let integer = try store.queue(MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]), options: options, jobs: .builtIn)
        var cursorOptions = options
        cursorOptions.cursor = ["partition_id", "id"]
        let cursor = try store.queue(MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "pevents", columnName: "partition_id", jobArguments: [["n"], ["a"]]), options: cursorOptions, jobs: .builtIn)
        var looseOptions = options
        looseOptions.batchClass = .looseIndexScan
        looseOptions.batchSize = 20
        looseOptions.subBatchSize = 20
        let loose = try store.queue(MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "issues", columnName: "project_id", jobArguments: [["n"], ["a"]]), options: looseOptions, jobs: .builtIn)
        let runner = BatchedMigrationRunner(db: s.db, jobs: .builtIn, logger: Logger(label: "test"))
        for migration in [integer, cursor, loose] {
            for _ in 0..<6 { _ = try runner.runStep(try store.require(migration.id), settings: MigrationSettings(), adjust: false) }
            let progress = try MigrationProgress.measure(try store.require(migration.id), db: s.db)
            let eta = try #require(progress.etaSeconds, "\(migration.tableName)")
            let low = try #require(progress.etaLowSeconds), high = try #require(progress.etaHighSeconds)
            #expect(low <= eta && eta <= high && low > 0, "\(migration.tableName): \(low) ≤ \(eta) ≤ \(high)")
            #expect(low < high, "\(migration.tableName): a range, not a point")
            let left = try #require(progress.rowsLeft)
            #expect(left > 10_000 && left < 30_000, "\(migration.tableName): \(left) rows left")
        }

        let status = try JSONValue.parse(try s.cli(["migrations", "status", "--json"]).stdout)
        #expect(status.arrayValue?.count == 3)
        for entry in status.arrayValue ?? [] {
            let low = entry["eta_seconds_low"]?.doubleValue ?? -1, eta = entry["eta_seconds"]?.doubleValue ?? -1, high = entry["eta_seconds_high"]?.doubleValue ?? -1
            #expect(low > 0 && low <= eta && eta <= high, "\(entry.serialized())")
            #expect(entry["rows_left"]?.intValue != nil)
        }
        let table = try s.cli(["migrations", "status"])
        #expect(table.stdout.contains(" – "), "\(table.stdout)")
        let show = try s.cli(["migrations", "show", String(integer.id)])
        #expect(show.stdout.range(of: #"ETA +\S+ \S+ \(\S+ \S+ – \S+ \S+\)"#, options: .regularExpression) != nil, "\(show.stdout)")

        let port = try PrivateRedisServer.freePort()
        let web = try ConveyorProcess(["web", "--bind", "127.0.0.1:\(port)"], redisURL: s.redisURL, databaseURL: s.databaseURL)
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { web.log.contains("listening on") }, "\(web.log)")
        let page = try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/admin/background_migrations/\(cursor.id)"]).stdout
        #expect(page.range(of: #"\(\S+ \S+ – \S+ \S+\)"#, options: .regularExpression) != nil, "ETA range on the page")
        let api = try JSONValue.parse(try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/api/background_migrations/\(loose.id)"]).stdout)
        #expect((api["eta_seconds_low"]?.doubleValue ?? -1) <= (api["eta_seconds"]?.doubleValue ?? -2))
        #expect((api["eta_seconds"]?.doubleValue ?? 1) <= (api["eta_seconds_high"]?.doubleValue ?? 0))
        let metrics = try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"]).stdout
        for bound in ["estimate", "low", "high"] {
            #expect(metrics.contains("conveyor_batched_migration_eta_seconds{") && metrics.contains("bound=\"\(bound)\""), "\(bound) in /metrics")
        }
        #expect(web.terminate() == 0)
    }
}
