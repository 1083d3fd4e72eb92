import ConveyorJSON
import ConveyorPostgres
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("An application's own worker (Examples/CustomWorker)")
struct CustomWorkerTests {
    @Test("its own job runs in its own worker executable, next to the built-in command line")
    func customJob() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "custom")
        let binary = TestEnvironment.productsDirectory.appendingPathComponent("CustomWorker").path
        let enqueue = try ProcessRunner.run(binary, ["enqueue", "Greet", #"["Ada"]"#], environment: ["REDIS_URL": redisURL])
        #expect(enqueue.status == 0, "\(enqueue.stderr)")
        let worker = try ConveyorProcess(["worker", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL, binary: binary)
        #expect(try TestEnvironment.eventually {
            try db.query("SELECT to_regclass('greetings') IS NOT NULL AS present").first?["present"].bool() == true
                && db.query("SELECT count(*) AS n FROM greetings WHERE name = 'Ada'").first?["n"].int() == 1
        })
        #expect(worker.terminate() == 0)
        #expect(worker.log.contains("hello, Ada"))
        #expect(try redis.command("ZCARD", "retry").int == 0)
    }

    @Test("its batched migration job with its own cursor and scope is queued and run by its own workers: only rows in scope change")
    func cursorAndScopeJob() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "customscope")
        try db.execute("""
            CREATE TABLE tickets (project_id int NOT NULL, id bigint NOT NULL, state text NOT NULL, title text NOT NULL, PRIMARY KEY (project_id, id));
            INSERT INTO tickets SELECT g % 7, g, CASE WHEN g % 4 = 0 THEN 'closed' ELSE 'open' END, '  ticket ' || g || '  ' FROM generate_series(1, 4000) g;
            ANALYZE tickets;
            """)
        let binary = TestEnvironment.productsDirectory.appendingPathComponent("CustomWorker").path
        let env = ["REDIS_URL": redisURL, "DATABASE_URL": databaseURL]
        let refused = try ProcessRunner.run(binary, ["migrations", "queue", "TrimTicketTitles", "tickets", "project_id", "[]"], environment: env)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("TrimTicketTitles expects [state]"))
        let queued = try ProcessRunner.run(
            binary, ["migrations", "queue", "TrimTicketTitles", "tickets", "project_id", #"["open"]"#, "--batch-size", "400", "--sub-batch-size", "100",
                     "--interval", "0", "--pause-ms", "0", "--json"], environment: env)
        #expect(queued.status == 0, "\(queued.stderr)")
        let migration = try JSONValue.parse(queued.stdout)
        #expect(migration["cursor_columns"] == ["project_id", "id"])
        let id = try #require(migration["id"]?.int64Value)
        let worker = try ConveyorProcess(["worker"], redisURL: redisURL, databaseURL: databaseURL, binary: binary)
        #expect(try TestEnvironment.eventually(timeout: .seconds(120)) {
            try db.query("SELECT status FROM batched_background_migrations WHERE id = \(id)")[0]["status"].int() == 3
        }, "\(worker.log.suffix(1500))")
        #expect(worker.terminate() == 0)
        let rows = try db.query("""
            SELECT count(*) FILTER (WHERE state = 'open' AND title = btrim(title)) AS trimmed,
                   count(*) FILTER (WHERE state = 'closed' AND title <> btrim(title)) AS untouched FROM tickets
            """)[0]
        #expect(try rows["trimmed"].int() == 3000)
        #expect(try rows["untouched"].int() == 1000)
        #expect(try db.query("SELECT count(*) AS n FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id)")[0]["n"].int() == 8)
    }
}
