import ConveyorJSON
import ConveyorMigrations
import ConveyorPlatform
import ConveyorPostgres
import Foundation
import Logging
import Testing
import TestSupport

/// Steering a running migration: live tuning, the audit trail, delete, shutdown, and the
/// state machine's resume and retry rules under the row lock.
@Suite("Steering batched migrations")
struct SteeringTests {
    let copyArgs = #"[["id"],["id_convert_to_bigint"]]"#

    func cli(_ arguments: [String], _ redisURL: String, _ databaseURL: String) throws -> ProcessRunner.Output {
        try ProcessRunner.conveyor(["migrations"] + arguments, redisURL: redisURL, databaseURL: databaseURL)
    }

    func queue(_ databaseURL: String, _ redisURL: String, _ extra: [String]) throws -> Int64 {
        let output = try cli(["queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs, "--json"] + extra, redisURL, databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        return try #require(try JSONValue.parse(output.stdout)["id"]?.int64Value)
    }

    func jobSizes(_ db: PostgresConnection, _ id: Int64, after jobID: Int64 = 0) throws -> [Int] {
        try db.query("SELECT batch_size FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id) AND id > \(jobID) ORDER BY id")
            .map { try $0["batch_size"].int() }
    }

    func maxJobID(_ db: PostgresConnection, _ id: Int64) throws -> Int64 {
        try db.query("SELECT coalesce(max(id), 0) AS m FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id)")[0]["m"].int64()
    }

    func history(_ id: Int64, _ redisURL: String, _ databaseURL: String) throws -> [JSONValue] {
        let output = try cli(["history", String(id), "--json"], redisURL, databaseURL)
        #expect(output.status == 0, "\(output.stderr)")
        return try JSONValue.parse(output.stdout).arrayValue ?? []
    }

    /// A recorded change of `field`: [before, after].
    func change(_ entry: JSONValue, _ field: String) -> [JSONValue] {
        [entry["changes"]?[field]?["before"] ?? "missing", entry["changes"]?[field]?["after"] ?? "missing"]
    }

    @Test("update changes the batch size of the next job of a running migration (optimizer off); an out-of-range value is refused naming the limit and changes nothing")
    func liveTuning() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "tune")
        try MigrationFixtures.createEvents(db, rows: 40_000)
        #expect(try cli(["settings", "optimize_batched_migrations", "false"], redisURL, databaseURL).status == 0)
        let id = try queue(databaseURL, redisURL, ["--batch-size", "1000", "--sub-batch-size", "100", "--interval", "0", "--pause-ms", "20"])
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try jobSizes(db, id).count >= 2 }, "\(worker.log.suffix(1000))")

        let before = try maxJobID(db, id)
        let update = try cli(["update", String(id), "--batch-size", "400", "--sub-batch-size", "50"], redisURL, databaseURL)
        #expect(update.status == 0, "\(update.stderr)")
        #expect(update.stdout.contains("batch_size 1000 → 400"), "\(update.stdout)")
        // The batch in flight keeps its size; every batch created after the update has the new one.
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try jobSizes(db, id, after: before).contains(400) }, "\(worker.log.suffix(1000))")
        let after = try jobSizes(db, id, after: before)
        let firstNew = try #require(after.firstIndex(of: 400))
        #expect(firstNew <= 1, "more than the batch in flight kept the old size: \(after)")
        #expect(after[firstNew...].allSatisfy { $0 == 400 }, "\(after)")
        let resized = try #require(try db.query("""
            SELECT max_value - min_value + 1 AS keys, sub_batch_size FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(id) AND batch_size = 400 ORDER BY id LIMIT 1
            """).first)
        #expect(try resized["keys"].int() == 400 && resized["sub_batch_size"].int() == 50)

        // Refused: the limit named, nothing changed, nothing recorded.
        let row = { try db.query("SELECT batch_size, sub_batch_size, pause_ms, \"interval\", max_batch_size FROM batched_background_migrations WHERE id = \(id)")[0] }
        let stored = try row()
        let snapshot = try [stored["batch_size"].int(), stored["sub_batch_size"].int(), stored["pause_ms"].int(), stored["interval"].int()]
        let entries = try history(id, redisURL, databaseURL).count
        let refusals: [(String, String?, String)] = [("--batch-size", "0", "between 1 and 10000000"), ("--pause-ms", "700000", "between 0 and 600000"),
                                       ("--sub-batch-size", "5000", "the limit is the batch size"), ("--interval=-1", nil, "between 0 and 86400")]
        for (option, value, limit) in refusals {
            let refused = try cli(["update", String(id), option] + (value.map { [$0] } ?? []), redisURL, databaseURL)
            #expect(refused.status != 0, "\(option) \(value ?? "") accepted")
            #expect(refused.stderr.contains(limit), "\(refused.stderr)")
        }
        let unchanged = try row()
        #expect(try [unchanged["batch_size"].int(), unchanged["sub_batch_size"].int(), unchanged["pause_ms"].int(), unchanged["interval"].int()] == snapshot)
        #expect(try history(id, redisURL, databaseURL).count == entries)

        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try BatchedMigrationStore(db: db).require(id).status == .finished }, "\(worker.log.suffix(2000))")
        #expect(worker.terminate() == 0)
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 40_000, wrong: 0, notExactlyOnce: 0))
        #expect(try MigrationFixtures.overlappingJobs(db, migration: id) == 0)
    }

    @Test("history lists queue, pause, resume, update and retry with the OS user and the changes; a web POST with the HTTP user and remote address")
    func history() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "hist")
        try MigrationFixtures.createEvents(db, rows: 1000)
        let id = try queue(databaseURL, redisURL, ["--batch-size", "100", "--sub-batch-size", "10"])
        for step in [["pause", String(id)], ["resume", String(id)], ["update", String(id), "--batch-size", "200", "--pause-ms", "5"]] {
            let output = try cli(step, redisURL, databaseURL)
            #expect(output.status == 0, "\(step): \(output.stderr)")
        }
        try BatchedMigrationStore(db: db).apply(.failure, to: id)
        let retry = try cli(["retry", String(id)], redisURL, databaseURL)
        #expect(retry.status == 0, "\(retry.stderr)")

        let user = OperatorActor.currentOSUser().user
        let entries = try history(id, redisURL, databaseURL)
        #expect(entries.map { $0["action"]?.stringValue ?? "" } == ["queue", "pause", "resume", "update", "retry"])
        #expect(entries.allSatisfy { $0["actor"]?.stringValue == user && $0["via"]?.stringValue == "cli" && $0["at"]?.stringValue != nil })
        #expect(change(entries[1], "status") == ["active", "paused"])
        #expect(change(entries[2], "status") == ["paused", "active"])
        #expect(change(entries[3], "batch_size") == [100, 200] && change(entries[3], "pause_ms") == [100, 5])
        #expect(entries[3]["changes"]?.objectValue?.count == 2)
        #expect(change(entries[4], "status") == ["failed", "active"])
        let table = try cli(["history", String(id)], redisURL, databaseURL)
        #expect(table.stdout.contains("batch_size 100 → 200") && table.stdout.contains("\(user) (cli)"), "\(table.stdout)")

        // The web: a POST of the update form, with Basic authentication, from 127.0.0.1.
        let port = try PrivateRedisServer.freePort()
        let web = try ConveyorProcess(["web", "--bind", "127.0.0.1:\(port)"], redisURL: redisURL, databaseURL: databaseURL,
                                      extraEnvironment: ["CONVEYOR_WEB_PASSWORD": "sesame"])
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { web.log.contains("listening on") }, "\(web.log)")
        let jar = ProcessRunner.temporaryFile("cookies")
        let base = "http://127.0.0.1:\(port)/admin/background_migrations/\(id)"
        let page = try ProcessRunner.run("curl", ["-sf", "-u", "alice:sesame", "-c", jar, base])
        #expect(page.stdout.contains("History") && page.stdout.contains("batch_size 100 → 200"), "\(page.stdout.suffix(2000))")
        #expect(page.stdout.contains("name=\"batch_size\""), "no update form")
        let token = try #require(page.stdout.range(of: "name=\"authenticity_token\" value=\"").map { String(page.stdout[$0.upperBound...].prefix(64)) })
        let post = try ProcessRunner.run("curl", [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:sesame", "-b", jar, base + "/update",
            "--data", "authenticity_token=\(token)&return_to=%2Fadmin%2Fbackground_migrations%2F\(id)&batch_size=300&sub_batch_size=10&pause_ms=5&interval=120&max_batch_size=",
        ])
        #expect(post.stdout.hasPrefix("3"), "POST answered \(post.stdout)")
        let refused = try ProcessRunner.run("curl", [
            "-s", "-o", "/dev/null", "-w", "%{redirect_url}", "-u", "alice:sesame", "-b", jar, base + "/update",
            "--data", "authenticity_token=\(token)&batch_size=0",
        ])
        #expect(refused.stdout.contains("between"), "\(refused.stdout)")
        #expect(try BatchedMigrationStore(db: db).require(id).batchSize == 300)
        let last = try #require(try history(id, redisURL, databaseURL).last)
        #expect(last["action"]?.stringValue == "update" && last["actor"]?.stringValue == "alice" && last["via"]?.stringValue == "web")
        #expect(last["remote_address"]?.stringValue == "127.0.0.1")
        #expect(change(last, "batch_size") == [200, 300] && last["changes"]?.objectValue?.count == 1)
        let api = try JSONValue.parse(try ProcessRunner.run("curl", ["-sf", "-u", "alice:sesame", "http://127.0.0.1:\(port)/api/background_migrations/\(id)"]).stdout)
        #expect(api["history"]?.arrayValue?.map { $0["action"]?.stringValue ?? "" } == ["queue", "pause", "resume", "update", "retry", "update"])
        // A POST of the queue pages (a Redis change) is recorded too.
        let clear = try ProcessRunner.run("curl", [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:sesame", "-b", jar, "http://127.0.0.1:\(port)/queues/default/clear",
            "--data", "authenticity_token=\(token)&return_to=%2Fqueues",
        ])
        #expect(clear.stdout.hasPrefix("3"), "POST answered \(clear.stdout)")
        let queuePost = try JSONValue.parse(try cli(["history", "--json"], redisURL, databaseURL).stdout).arrayValue?.last
        #expect(queuePost?["action"]?.stringValue == "web POST /queues/default/clear" && queuePost?["actor"]?.stringValue == "alice")
        #expect(queuePost?["remote_address"]?.stringValue == "127.0.0.1" && queuePost?["migration_id"] == .null)
        #expect(web.terminate() == 0)

        // Settings and the global switch are audited too.
        #expect(try cli(["disable"], redisURL, databaseURL).status == 0)
        #expect(try cli(["max-running", "3"], redisURL, databaseURL).status == 0)
        let all = try JSONValue.parse(try cli(["history", "--json"], redisURL, databaseURL).stdout).arrayValue ?? []
        #expect(all.suffix(2).map { $0["action"]?.stringValue ?? "" } == ["disable", "max-running"])
        #expect(all.suffix(2).first?["changes"]?["execute_batched_migrations_on_schedule"]?["after"]?.stringValue == "false")

        // The other verbs: enable, a plain settings change, finalize, and mark-finished of a
        // second migration, each with the OS user and what it changed.
        #expect(try cli(["enable"], redisURL, databaseURL).status == 0)
        #expect(try cli(["settings", "batched_migration_hold_seconds", "120"], redisURL, databaseURL).status == 0)
        let finalize = try cli(["finalize", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL, databaseURL)
        #expect(finalize.status == 0, "\(finalize.stderr)")
        try MigrationFixtures.createEvents(db, rows: 300, table: "events_two")
        let second = try cli(["queue", "CopyColumnUsingBackgroundMigrationJob", "events_two", "id", copyArgs, "--json"], redisURL, databaseURL)
        let secondID = try #require(try JSONValue.parse(second.stdout)["id"]?.int64Value, "\(second.stderr)")
        let marked = try cli(["mark-finished", String(secondID), "--yes"], redisURL, databaseURL)
        #expect(marked.status == 0, "\(marked.stderr)")
        let everything = try JSONValue.parse(try cli(["history", "--json"], redisURL, databaseURL).stdout).arrayValue ?? []
        let recent = Array(everything.suffix(5))
        #expect(recent.map { $0["action"]?.stringValue ?? "" } == ["enable", "settings", "finalize", "queue", "mark-finished"], "\(recent)")
        #expect(recent.allSatisfy { $0["actor"]?.stringValue == user && $0["via"]?.stringValue == "cli" })
        #expect(recent[0]["changes"]?["execute_batched_migrations_on_schedule"]?["after"]?.stringValue == "true", "\(recent[0])")
        #expect(recent[1]["changes"]?["batched_migration_hold_seconds"]?["after"]?.stringValue == "120", "\(recent[1])")
        #expect(recent[2]["migration_id"]?.int64Value == id && change(recent[2], "status") == ["active", "finalizing"], "\(recent[2])")
        #expect(recent[4]["migration_id"]?.int64Value == secondID && change(recent[4], "status") == ["active", "finished"], "\(recent[4])")
        #expect(recent[4]["changes"]?["jobs_marked_succeeded"]?["after"] != nil, "\(recent[4])")
    }

    @Test("resume of a non-paused and retry of a non-failed migration are refused by the state machine, decided under the row lock")
    func stateMachineUnderLock() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "lock")
        try MigrationFixtures.createEvents(db, rows: 100)
        let id = try queue(databaseURL, redisURL, ["--batch-size", "50", "--sub-batch-size", "10"])
        let resume = try cli(["resume", String(id)], redisURL, databaseURL)
        #expect(resume.status != 0)
        #expect(resume.stderr.contains("You can resume only paused background migrations (this one is active)."), "\(resume.stderr)")
        let retry = try cli(["retry", String(id)], redisURL, databaseURL)
        #expect(retry.status != 0)
        #expect(retry.stderr.contains("You can retry only failed background migrations (migration \(id) is active)."), "\(retry.stderr)")
        #expect(try BatchedMigrationStore(db: db).require(id).status == .active)

        // A resume waits for the row lock and decides on the row as it is then: paused when
        // it was started, active by the time the lock is released → refused.
        try BatchedMigrationStore(db: db).apply(.pause, to: id)
        let watcher = try PostgresConnection(connectionString: databaseURL)
        try db.execute("BEGIN")
        try db.query("SELECT status FROM batched_background_migrations WHERE id = \(id) FOR UPDATE")
        let waiting = try ConveyorProcess(["migrations", "resume", String(id)], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) {
            try watcher.query("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT status FROM batched_background_migrations%FOR UPDATE'")[0]["n"].int() > 0
        })
        try db.query("UPDATE batched_background_migrations SET status = \(BatchedMigrationStatus.active.rawValue) WHERE id = \(id)")
        try db.execute("COMMIT")
        #expect(waiting.child.wait(timeout: .seconds(30)) == 1, "\(waiting.log)")
        #expect(waiting.log.contains("You can resume only paused background migrations (this one is active)."), "\(waiting.log)")
        #expect(try history(id, redisURL, databaseURL).map { $0["action"]?.stringValue ?? "" } == ["queue"])
    }

    @Test("delete refuses without --yes, deletes the migration and its jobs with --yes (audited), and the same configuration queues again")
    func deleteAndRequeue() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "del")
        try MigrationFixtures.createEvents(db, rows: 2000)
        let id = try queue(databaseURL, redisURL, ["--batch-size", "500", "--sub-batch-size", "100", "--interval", "0", "--pause-ms", "0"])
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        _ = try runner.runBatches(id, settings: MigrationSettings(), now: { Date().timeIntervalSince1970 })
        #expect(try BatchedMigrationStore.jobCount(db, migration: id) > 0)
        let again = try cli(["queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", copyArgs], redisURL, databaseURL)
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")

        let unconfirmed = try cli(["delete", String(id)], redisURL, databaseURL)
        #expect(unconfirmed.status != 0 && unconfirmed.stderr.contains("--yes"), "\(unconfirmed.stderr)")
        #expect(try BatchedMigrationStore(db: db).find(id) != nil)
        let deleted = try cli(["delete", String(id), "--yes"], redisURL, databaseURL)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try BatchedMigrationStore(db: db).find(id) == nil)
        #expect(try BatchedMigrationStore.jobCount(db, migration: id) == 0)
        let entry = try #require(try history(id, redisURL, databaseURL).last)
        #expect(entry["action"]?.stringValue == "delete" && entry["changes"]?["status"]?["before"]?.stringValue == "finished")

        let requeued = try queue(databaseURL, redisURL, ["--batch-size", "500", "--sub-batch-size", "100", "--interval", "0", "--pause-ms", "0"])
        #expect(requeued != id)
        #expect(try BatchedMigrationStore(db: db).require(requeued).status == .active)
    }

    @Test("a worker shutdown mid-batch leaves the job's attempts unchanged; the batch runs again and the attempt that ran it is its only one")
    func shutdownIsNotAnAttempt() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "stop")
        try MigrationFixtures.createEvents(db, rows: 400)
        // 20 sub-batches of 10 rows with 200 ms between them: a batch takes about 4 s.
        let id = try queue(databaseURL, redisURL, ["--batch-size", "200", "--sub-batch-size", "10", "--interval", "0", "--pause-ms", "200"])
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        let running = { try db.query("SELECT id, attempts FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id) AND status = 1").first }
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) {
            try running() != nil && (try db.query("SELECT count(*) AS n FROM events WHERE updates = 1")[0]["n"].int()) > 0
        }, "\(worker.log.suffix(1000))")
        let job = try #require(try running())
        let jobID = try job["id"].int64()
        #expect(try job["attempts"].int() == 1)
        #expect(worker.terminate(timeout: .seconds(30)) == 0, "\(worker.log.suffix(1000))")
        let interrupted = try #require(try BatchedMigrationStore(db: db).job(jobID))
        #expect(interrupted.status == .pending)
        #expect(interrupted.attempts == 0, "the shutdown counted as an attempt")
        let logs = try BatchedMigrationStore(db: db).transitionLogs(of: jobID)
        #expect(logs.last?.exceptionClass == "Conveyor::WorkerShutdown" && logs.last?.nextStatus == .pending)
        #expect(worker.log.contains("interrupted by shutdown"), "\(worker.log.suffix(1000))")

        let second = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) { try BatchedMigrationStore(db: db).require(id).status == .finished }, "\(second.log.suffix(1000))")
        #expect(second.terminate() == 0)
        let rerun = try #require(try BatchedMigrationStore(db: db).job(jobID))
        #expect(rerun.status == .succeeded && rerun.attempts == 1)
        let state = try MigrationFixtures.copyState(db)
        #expect(state.rows == 400 && state.wrong == 0)
    }

    @Test("setup upgrades a database of the previous schema (v2) in place: the audit table and throttle column appear, migrations stay")
    func schemaUpgrade() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "v3")
        try Schema.setUp(db, through: 2)
        try MigrationFixtures.createEvents(db, rows: 10)
        let id = try db.query("""
            INSERT INTO batched_background_migrations
              (job_class_name, table_name, column_name, job_arguments, min_value, max_value, batch_size, sub_batch_size, "interval", status)
            VALUES ('CopyColumnUsingBackgroundMigrationJob', 'events', 'id', '[["id"],["id_convert_to_bigint"]]', 1, 10, 5, 5, 0, 0)
            RETURNING id
            """)[0]["id"].int64()
        let setup = try cli(["setup"], redisURL, databaseURL)
        #expect(setup.status == 0 && setup.stdout.contains("applied schema version 3"), "\(setup.stdout) \(setup.stderr)")
        #expect(try Schema.currentVersion(db) == 3)
        #expect(try BatchedMigrationStore(db: db).require(id).throttle == nil)
        #expect(try cli(["resume", String(id)], redisURL, databaseURL).status == 0)
        #expect(try history(id, redisURL, databaseURL).map { $0["action"]?.stringValue ?? "" } == ["resume"])
    }
}
