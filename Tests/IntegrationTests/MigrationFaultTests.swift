import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Logging
import Testing
import TestSupport

@Suite("Batched migration health and faults")
struct MigrationFaultTests {
    func makeMigration(_ db: PostgresConnection, table: String = "events") throws -> BatchedMigration {
        try Schema.setUp(db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 500
        options.interval = 0
        options.pauseMilliseconds = 0
        return try BatchedMigrationStore(db: db).queue(
            MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: table, columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]),
            options: options, jobs: .builtIn)
    }

    @Test("a lagging replication slot puts the migration on hold")
    func replicationLagHold() throws {
        let (db, _, schema) = try TestEnvironment.isolatedPostgres(label: "hold")
        try MigrationFixtures.createEvents(db, rows: 3000)
        let migration = try makeMigration(db)
        try MigrationSettings.store("max_replication_lag_bytes", "1", db)
        let slot = "conveyor_test_\(schema.lowercased())"
        try db.query("SELECT pg_create_physical_replication_slot(\(slot), true)")
        defer { _ = try? db.query("SELECT pg_drop_replication_slot(\(slot))") }
        try db.execute("CREATE TABLE wal_filler AS SELECT g FROM generate_series(1, 10000) g")
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        _ = try runner.withTableLease("events") { try runner.runStep(migration, settings: try MigrationSettings.load(db)) }
        let held = try runner.store.require(migration.id)
        let until = try #require(held.onHoldUntil)
        #expect(until.timeIntervalSinceNow > 500 && until.timeIntervalSinceNow <= 600)
        #expect(held.isOnHold)
        // A held migration is not executable.
        #expect(try runner.store.executableDistinctOnTable(limit: 10).allSatisfy { $0.id != migration.id })
    }

    @Test("autovacuum running on the migration's table puts it on hold")
    func autovacuumHold() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres(label: "vacuum")
        try db.execute("ALTER SYSTEM SET autovacuum_naptime = 1")
        try db.execute("SELECT pg_reload_conf()")
        defer {
            _ = try? db.execute("ALTER SYSTEM RESET autovacuum_naptime")
            _ = try? db.execute("SELECT pg_reload_conf()")
        }
        try MigrationFixtures.createEvents(db, rows: 30_000)
        let migration = try makeMigration(db)
        defer { _ = try? db.execute("DROP TABLE events CASCADE") }
        // A slow autovacuum on this table only: no thresholds, one cost unit then 100 ms.
        try db.execute("""
            ALTER TABLE events SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
              autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1);
            UPDATE events SET payload = payload || '!';
            """)
        let vacuuming = try TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            try db.query("""
                SELECT count(*) AS n FROM pg_stat_progress_vacuum p JOIN pg_stat_activity a USING (pid)
                WHERE p.relid = 'events'::regclass AND a.backend_type = 'autovacuum worker'
                """).first?["n"].int() ?? 0 > 0
        }
        #expect(vacuuming, "autovacuum did not start on the table")
        let signals = HealthCheck.evaluate(migration, settings: MigrationSettings(), db: db)
        #expect(signals.contains { $0.indicator == "AutovacuumActiveOnTable" && $0.kind == .stop })
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        _ = try runner.withTableLease("events") { try runner.runStep(migration, settings: try MigrationSettings.load(db)) }
        #expect(try runner.store.require(migration.id).isOnHold)
    }

    @Test("PostgreSQL restarting mid-batch fails that batch, which is retried; the migration finishes and the worker survives")
    func postgresRestart() throws {
        let server = try PrivatePostgresServer()
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let db = try PostgresConnection(connectionString: server.url)
        try MigrationFixtures.createEvents(db, rows: 6000)
        try db.execute("""
            CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$;
            CREATE TRIGGER slow_row BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION slow_row();
            """)
        let migration = try makeMigration(db)
        let worker = try ConveyorProcess(["worker", "-c", "2"], redisURL: redisURL, databaseURL: server.url)
        let store = BatchedMigrationStore(db: db)
        #expect(try TestEnvironment.eventually { try store.jobs(of: migration.id).contains { $0.status == .succeeded } })
        // Restart while a sub-batch's UPDATE is running (each takes ~1 s, so one that began
        // under 200 ms ago is still running when the fast shutdown terminates it), not in the
        // few milliseconds between batches, where there is nothing to interrupt.
        let midBatch = try TestEnvironment.eventually(timeout: .seconds(30), interval: .milliseconds(5)) {
            try db.query("""
                SELECT count(*) AS n FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%UPDATE%events%'
                  AND now() - query_start < interval '200 milliseconds'
                """).first?["n"].int() ?? 0 > 0
        }
        #expect(midBatch, "no sub-batch was seen running")
        try server.restart(downFor: 1)
        let done = TestEnvironment.eventually(timeout: .seconds(120)) {
            (try? store.require(migration.id).status) == .finished
        }
        #expect(done, "migration did not finish after the restart; log:\n\(worker.log.suffix(2000))")
        #expect(worker.child.isRunning, "the worker crashed")
        let jobs = try store.jobs(of: migration.id)
        let interrupted = try jobs.filter { try store.transitionLogs(of: $0.id).contains { $0.nextStatus == .failed } || $0.attempts > 1 }
        #expect(!interrupted.isEmpty, "the batch running during the restart should have failed and been retried")
        #expect(try MigrationFixtures.copyState(db).wrong == 0)
        #expect(worker.terminate() == 0)
    }
}
