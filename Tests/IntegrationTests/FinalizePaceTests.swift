import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Testing
import TestSupport

/// `finalize` at the pace the situation allows: `--pause-ms`, `--sub-batch-size` and
/// `--concurrency` for one run, `--downtime` at the database's speed; none of it stored on
/// the migration; progress lines on a non-terminal stderr.
@Suite("Finalize pace")
struct FinalizePaceTests {
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

        func queue(_ arguments: [String]) throws -> Int64 {
            let output = try cli(["migrations", "queue"] + arguments + ["--json"])
            #expect(output.status == 0, "\(output.stderr)")
            return try #require(try JSONValue.parse(output.stdout)["id"]?.int64Value)
        }

        /// (batch_size, sub_batch_size, pause_ms) of the migration row.
        func pace(_ id: Int64) throws -> [Int] {
            let m = try BatchedMigrationStore(db: db).require(id)
            return [m.batchSize, m.subBatchSize, m.pauseMilliseconds]
        }
    }

    static let copy = ["CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#]

    @Test("finalize --downtime of a 300,000-row migration queued with the defaults: no pauses, sub-batch = batch, batches grown past the queued size, the migration row untouched, every row once, progress lines on stderr")
    func downtime() throws {
        let s = try Servers("fdown")
        try MigrationFixtures.createEvents(s.db, rows: 300_000)
        let id = try s.queue(Self.copy)
        #expect(try s.pace(id) == [1000, 100, 100])
        let run = try s.cli(["migrations", "finalize"] + Self.copy + ["--downtime", "--progress-every", "0.05"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("is finished") || run.stdout.contains("is finalized"), "\(run.stdout)")
        #expect(try MigrationFixtures.copyState(s.db) == .init(rows: 300_000, wrong: 0, notExactlyOnce: 0))
        let m = try BatchedMigrationStore(db: s.db).require(id)
        #expect(m.status.isComplete)
        #expect(try s.pace(id) == [1000, 100, 100], "the migration's own pace is not changed")
        let jobs = try BatchedMigrationStore(db: s.db).jobs(of: id, limit: 100_000)
        #expect(jobs.allSatisfy { $0.status == .succeeded && $0.pauseMilliseconds == 0 && $0.subBatchSize == $0.batchSize })
        let largest = jobs.map(\.batchSize).max() ?? 0
        #expect(largest >= 16_000, "batches grew: largest \(largest)")
        #expect(jobs.count < 300, "\(jobs.count) batches (300 at the queued size)")
        #expect(jobs.allSatisfy { ($0.metrics["sub_batches"]?.intValue ?? 0) == 1 }, "one statement per batch")
        #expect(try MigrationFixtures.overlappingJobs(s.db, migration: id) == 0)
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("finalize \(id): ") }
        #expect(!lines.isEmpty, "progress lines on a non-terminal stderr: \(run.stderr)")
        #expect(lines.allSatisfy { $0.contains("%, ") && $0.contains("batches") && $0.contains("rows/s") && $0.contains("ETA") }, "\(lines)")
        #expect(!run.stderr.contains("\u{1B}["), "no terminal escapes when stderr is a file")
    }

    @Test("finalize --pause-ms 0 --sub-batch-size 500 --concurrency 2 apply to this run's batches only")
    func overrides() throws {
        let s = try Servers("fpace")
        try MigrationFixtures.createEvents(s.db, rows: 20_000)
        let id = try s.queue(Self.copy + ["--batch-size", "1000", "--sub-batch-size", "100", "--pause-ms", "200"])
        let run = try s.cli(["migrations", "finalize"] + Self.copy + ["--pause-ms", "0", "--sub-batch-size", "500", "--concurrency", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try MigrationFixtures.copyState(s.db) == .init(rows: 20_000, wrong: 0, notExactlyOnce: 0))
        #expect(try s.pace(id) == [1000, 100, 200])
        let jobs = try BatchedMigrationStore(db: s.db).jobs(of: id, limit: 1000)
        #expect(jobs.count == 20)
        #expect(jobs.allSatisfy { $0.batchSize == 1000 && $0.subBatchSize == 500 && $0.pauseMilliseconds == 0 && $0.metrics["sub_batches"]?.intValue == 2 }, "\(jobs.map(\.json))")
        // 20 batches × 9 pauses of 200 ms would be 36 s at the migration's own pace.
        let seconds = jobs.compactMap(\.duration).reduce(0, +)
        #expect(seconds < 18, "\(seconds) s of batches")
        #expect(try MigrationFixtures.overlappingJobs(s.db, migration: id) == 0)
    }

    @Test("--downtime with --pause-ms or --sub-batch-size is refused, and so is a negative pause")
    func refusals() throws {
        let s = try Servers("fref")
        try MigrationFixtures.createEvents(s.db, rows: 100)
        _ = try s.queue(Self.copy)
        let both = try s.cli(["migrations", "finalize"] + Self.copy + ["--downtime", "--pause-ms", "5"])
        #expect(both.status != 0 && both.stderr.contains("--downtime runs without pauses"), "\(both.stderr)")
        let negative = try s.cli(["migrations", "finalize"] + Self.copy + ["--pause-ms=-1"])
        #expect(negative.status != 0 && negative.stderr.contains("--pause-ms must be ≥ 0"), "\(negative.stderr)")
        #expect(try MigrationFixtures.copyState(s.db).wrong == 100)
    }
}
