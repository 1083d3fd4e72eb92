import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Logging
import Testing
import TestSupport

@Suite("Batched background migrations")
struct BatchedMigrationTests {
    let copyArgs = #"[["id"],["id_convert_to_bigint"]]"#

    func status(_ db: PostgresConnection, _ id: Int64) throws -> String {
        try BatchedMigrationStore(db: db).require(id).status.name
    }

    func queue(_ databaseURL: String, _ redisURL: String, table: String = "events", extra: [String]) throws -> Int64 {
        let output = try ProcessRunner.conveyor(
            ["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", table, "id", copyArgs, "--json"] + extra,
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        return try #require(try JSONValue.parse(output.stdout)["id"]?.int64Value)
    }

    @Test("workers copy a 100k-row int column to bigint: finished, every row right and updated exactly once, ranges disjoint; GitLab's queries work")
    func hundredThousandRows() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbm")
        try MigrationFixtures.createEvents(db, rows: 100_000)
        let id = try queue(databaseURL, redisURL, extra: ["--batch-size", "5000", "--sub-batch-size", "1000", "--interval", "0", "--pause-ms", "0"])
        // Two worker processes: the table lease keeps their batches apart.
        let a = try ConveyorProcess(["worker", "-c", "3"], redisURL: redisURL, databaseURL: databaseURL)
        let b = try ConveyorProcess(["worker", "-c", "3"], redisURL: redisURL, databaseURL: databaseURL)
        let finished = try TestEnvironment.eventually(timeout: .seconds(180)) { try status(db, id) == "finished" }
        let reached = try status(db, id)
        #expect(finished, "migration is \(reached)")
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 100_000, wrong: 0, notExactlyOnce: 0))
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)

        // The reference page's queries, verbatim in shape.
        let incomplete = try db.query("SELECT job_class_name, table_name, column_name, job_arguments FROM batched_background_migrations WHERE status <> 3")
        #expect(incomplete.isEmpty)
        let jobs = try db.query(
            "SELECT started_at, finished_at, finished_at - started_at AS duration, status FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id) limit 10")
        #expect(jobs.count == 10)
        #expect(try jobs.allSatisfy { try $0["status"].int() == 3 && !$0["duration"].isNull })
        let check = try ProcessRunner.conveyor(["migrations", "ensure-finished", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL: redisURL, databaseURL: databaseURL)
        #expect(check.status == 0, "\(check.stderr)")
        let json = try JSONValue.parse(try ProcessRunner.conveyor(["migrations", "status", "--json"], redisURL: redisURL, databaseURL: databaseURL).stdout)
        #expect(json[0]?["progress"]?.doubleValue == 100)
        #expect(json[0]?["status_name"]?.stringValue == "finalized")
        let logs = a.log + b.log
        #expect(logs.contains("batch succeeded"))
    }

    @Test("a failing batch: failed after 3 attempts with the exception logged, ensure-finished explains, fix, retry, finished")
    func failureAndRetry() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmfail")
        try MigrationFixtures.createEvents(db, rows: 5000)
        try db.execute("""
            CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.id = 2500 THEN RAISE EXCEPTION 'cannot migrate row %', NEW.id; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_row BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION refuse_row();
            """)
        let id = try queue(databaseURL, redisURL, extra: ["--batch-size", "1000", "--sub-batch-size", "250", "--interval", "0", "--pause-ms", "0"])
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try status(db, id) == "failed" })
        let store = BatchedMigrationStore(db: db)
        let failed = try store.jobs(of: id, status: .failed)
        #expect(failed.count == 1)
        let job = try #require(failed.first)
        #expect(job.attempts == 3)
        #expect(job.minValue <= 2500 && 2500 <= job.maxValue)
        let logs = try store.transitionLogs(of: job.id)
        #expect(logs.filter { $0.nextStatus == .failed }.count == 3)
        #expect(logs.contains { $0.exceptionMessage?.contains("cannot migrate row 2500") == true && $0.exceptionClass == "PG::RaiseException" })

        let gate = try ProcessRunner.conveyor(["migrations", "ensure-finished", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL: redisURL, databaseURL: databaseURL)
        #expect(gate.status == 1)
        #expect(gate.stderr.contains("Expected batched background migration for the given configuration to be marked as 'finished', but it is 'failed':"))
        #expect(gate.stderr.contains(#"conveyor migrations finalize CopyColumnUsingBackgroundMigrationJob events id '[["id"],["id_convert_to_bigint"]]'"#))
        // With --finalize the batch is run once more here, fails on the same row, and the error says why.
        let finalizing = try ProcessRunner.conveyor(["migrations", "ensure-finished", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs, "--finalize"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(finalizing.status == 1, "\(finalizing.stdout)\(finalizing.stderr)")
        #expect(finalizing.stderr.contains("Finalizing failed:"), "\(finalizing.stderr)")
        #expect(finalizing.stderr.contains("cannot migrate row 2500"), "\(finalizing.stderr)")
        #expect(finalizing.stderr.contains("to be marked as 'finished', but it is 'failed'"), "\(finalizing.stderr)")

        try db.execute("DROP TRIGGER refuse_row ON events")  // the fix
        let retry = try ProcessRunner.conveyor(["migrations", "retry", String(id)], redisURL: redisURL, databaseURL: databaseURL)
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(retry.stdout.contains("active"))
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try status(db, id) == "finished" })
        #expect(worker.terminate() == 0)
        let state = try MigrationFixtures.copyState(db)
        #expect(state.wrong == 0)
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)
        #expect(try ProcessRunner.conveyor(["migrations", "ensure-finished", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL: redisURL, databaseURL: databaseURL).status == 0)
    }

    @Test("sub-batch timeouts shrink the sub-batch (×0.75) and split the batch after the third attempt")
    func timeoutShrinksAndSplits() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres(label: "bbmtimeout")
        try MigrationFixtures.createEvents(db, rows: 1000)
        try db.execute("""
            CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN PERFORM pg_sleep(0.004); RETURN NEW; END $$;
            CREATE TRIGGER slow_row BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION slow_row();
            """)
        try Schema.setUp(db)
        try MigrationSettings.store("sub_batch_statement_timeout_ms", "150", db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 100
        options.interval = 0
        options.pauseMilliseconds = 0
        let configuration = MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]])
        let migration = try BatchedMigrationStore(db: db).queue(configuration, options: options, jobs: .builtIn)
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        let settings = try MigrationSettings.load(db)
        // Three steps run the one batch three times: two shrink its sub-batch, the third splits it.
        for expected in [75, 56] {
            _ = try runner.withTableLease("events") { try runner.runStep(try runner.store.require(migration.id), settings: settings) }
            let job = try #require(try runner.store.jobs(of: migration.id).first)
            #expect(job.status == .failed)
            #expect(job.subBatchSize == expected)
        }
        _ = try runner.withTableLease("events") { try runner.runStep(try runner.store.require(migration.id), settings: settings) }
        let jobs = try runner.store.jobs(of: migration.id)
        #expect(jobs.count == 2, "the batch was split in two")
        #expect(jobs.map(\.batchSize) == [500, 500])
        #expect(jobs.allSatisfy { $0.status == .failed && $0.attempts == 0 })
        #expect(jobs[0].minValue == 1 && jobs[1].maxValue == 1000 && jobs[0].maxValue + 1 == jobs[1].minValue)
        let logs = try runner.store.transitionLogs(of: jobs[0].id)
        #expect(logs.filter { $0.exceptionClass == "PG::QueryCanceled" }.count == 3)
        // Fixed: the split halves run and the migration finishes.
        try db.execute("DROP TRIGGER slow_row ON events")
        let final = try runner.finalize(configuration, settings: settings)
        #expect(final.status == .finished)
        #expect(try MigrationFixtures.copyState(db).wrong == 0)
    }

    @Test("the global switch stops new batches (the one in flight completes); finalize completes the migration with no worker running")
    func globalSwitchAndFinalize() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmswitch")
        try MigrationFixtures.createEvents(db, rows: 40_000)
        let id = try queue(databaseURL, redisURL, extra: ["--batch-size", "1000", "--sub-batch-size", "500", "--interval", "0", "--pause-ms", "50"])
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        let store = BatchedMigrationStore(db: db)
        #expect(try TestEnvironment.eventually { try store.jobs(of: id).count >= 3 })
        #expect(try ProcessRunner.conveyor(["migrations", "disable"], redisURL: redisURL, databaseURL: databaseURL).status == 0)
        // The batch in flight completes; then nothing new is created.
        // An execution job that read the switch just before it turned off may still create
        // and run its batch: wait until every batch succeeded and none appeared for a second.
        var countAfterDisable = -1
        #expect(try TestEnvironment.eventually(timeout: .seconds(30), interval: .seconds(1)) {
            let jobs = try store.jobs(of: id)
            defer { countAfterDisable = jobs.count }
            return jobs.count == countAfterDisable && jobs.allSatisfy { $0.status == .succeeded }
        })
        Thread.sleep(forTimeInterval: 3)
        #expect(try store.jobs(of: id).count == countAfterDisable)
        #expect(try status(db, id) == "active")
        #expect(worker.terminate() == 0)

        let finalize = try ProcessRunner.conveyor(["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL: redisURL, databaseURL: databaseURL)
        #expect(finalize.status == 0, "\(finalize.stderr)")
        #expect(finalize.stdout.contains("finished"))
        #expect(try status(db, id) == "finished")
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 40_000, wrong: 0, notExactlyOnce: 0))
        #expect(try ProcessRunner.conveyor(["migrations", "enable"], redisURL: redisURL, databaseURL: databaseURL).status == 0)
    }

    @Test("finalize with --concurrency 3 runs batches in parallel: disjoint ranges, every row exactly once")
    func parallelFinalize() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmparallel")
        try MigrationFixtures.createEvents(db, rows: 30_000)
        let id = try queue(databaseURL, redisURL, extra: ["--batch-size", "1000", "--sub-batch-size", "500", "--interval", "0", "--pause-ms", "0"])
        let output = try ProcessRunner.conveyor(
            ["migrations", "finalize", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs, "--concurrency", "3"],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(try status(db, id) == "finished")
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 30_000, wrong: 0, notExactlyOnce: 0))
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)
        #expect(try BatchedMigrationStore(db: db).jobs(of: id).count == 30)
    }

    @Test("GitLab's pasted single-argument form finalizes too")
    func pastedFinalize() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmpaste")
        try MigrationFixtures.createEvents(db, rows: 3000)
        let id = try queue(databaseURL, redisURL, extra: ["--batch-size", "1000", "--interval", "0"])
        let output = try ProcessRunner.conveyor(
            ["migrations", "finalize", #"[CopyColumnUsingBackgroundMigrationJob,events,id,'[["id"]\, ["id_convert_to_bigint"]]']"#],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(try status(db, id) == "finished")
    }

    @Test("table and column names shaped like injections are refused and nothing is touched")
    func injectionRefused() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbminject")
        try MigrationFixtures.createEvents(db, rows: 10)
        try db.execute("CREATE TABLE y (id int)")
        for (table, column) in [("x; DROP TABLE y", "id"), ("events", "id; DROP TABLE y"), ("events\"; DROP TABLE y; --", "id")] {
            let output = try ProcessRunner.conveyor(
                ["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", table, column, copyArgs], redisURL: redisURL, databaseURL: databaseURL)
            #expect(output.status != 0)
            #expect(output.stderr.contains("refusing") || output.stderr.contains("does not exist"), "\(output.stderr)")
        }
        let badArgs = try ProcessRunner.conveyor(
            ["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint; DROP TABLE y"]]"#],
            redisURL: redisURL, databaseURL: databaseURL)
        #expect(badArgs.status != 0)
        #expect(try db.query("SELECT to_regclass('y') IS NOT NULL AS present").first?["present"].bool() == true)
        #expect(try db.query("SELECT count(*) AS n FROM batched_background_migrations").first?["n"].int() == 0)
        #expect(try MigrationFixtures.copyState(db).wrong == 10)
    }

    @Test("an empty table is queued finished; the same configuration twice is refused")
    func emptyAndDuplicate() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmempty")
        try MigrationFixtures.createEvents(db, rows: 0)
        let id = try queue(databaseURL, redisURL, extra: [])
        #expect(try status(db, id) == "finished")
        let again = try ProcessRunner.conveyor(["migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL: redisURL, databaseURL: databaseURL)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))
    }

    @Test("pause, resume, mark-finished and max-running from the CLI")
    func operatorCommands() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "bbmops")
        try MigrationFixtures.createEvents(db, rows: 100)
        let id = try queue(databaseURL, redisURL, extra: [])
        func cli(_ args: String...) throws -> ProcessRunner.Output { try ProcessRunner.conveyor(args, redisURL: redisURL, databaseURL: databaseURL) }
        #expect(try cli("migrations", "pause", String(id)).status == 0)
        #expect(try status(db, id) == "paused")
        #expect(try cli("migrations", "pause", String(id)).status == 0)  // idempotent, as GitLab allows
        #expect(try cli("migrations", "resume", String(id)).status == 0)
        #expect(try status(db, id) == "active")
        let refuse = try cli("migrations", "resume", String(id))
        #expect(refuse.status == 1)
        #expect(refuse.stderr.contains("You can resume only paused"))
        let unconfirmed = try cli("migrations", "mark-finished", String(id))
        #expect(unconfirmed.status == 1)
        #expect(unconfirmed.stderr.contains("--yes"))
        #expect(try cli("migrations", "mark-finished", String(id), "--yes").status == 0)
        #expect(try status(db, id) == "finished")
        #expect(try cli("migrations", "max-running", "4").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4")
        #expect(try MigrationSettings.load(db).maxRunningMigrations == 4)
        #expect(try cli("migrations", "max-running", "0").status != 0)
        #expect(try cli("migrations", "show", "999").stderr.contains("no batched background migration with id 999"))
    }
}
