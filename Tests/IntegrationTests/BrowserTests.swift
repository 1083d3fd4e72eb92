import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Logging
import Testing
import TestSupport

@Suite("Web admin in a real browser")
struct BrowserTests {
    @Test("headless Chromium opens the Failed tab, clicks Retry and sees the migration queued again")
    func retryInBrowser() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "browser")
        try db.execute("CREATE TABLE accounts (id serial PRIMARY KEY, a int, b bigint); INSERT INTO accounts (a) SELECT g FROM generate_series(1, 500) g;")
        try Schema.setUp(db)
        let store = BatchedMigrationStore(db: db)
        var options = BatchedMigrationStore.QueueOptions()
        options.interval = 0
        let migration = try store.queue(.init(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "accounts", columnName: "id", jobArguments: [["a"], ["b"]]), options: options, jobs: .builtIn)
        let job = try store.transition(try store.createJob(for: migration, min: 1, max: 500), to: .running)
        try store.transition(job, to: .failed, exceptionClass: "PG::Error", exceptionMessage: "disk full")
        try db.query("UPDATE batched_background_migration_jobs SET attempts = 3 WHERE id = \(job.id)")
        try store.apply(.failure, to: migration.id)

        let port = try PrivateRedisServer.freePort()
        let web = try ConveyorProcess(["web", "--bind", "127.0.0.1:\(port)"], redisURL: redisURL, databaseURL: databaseURL)
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { web.log.contains("listening on") }, "\(web.log)")
        let screenshot = TestEnvironment.artifactsDirectory.appendingPathComponent("browser-retry-failed-migration.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        var environment = ["PYTHONPATH": TestEnvironment.pythonLibraryPath]
        environment["HOME"] = ProcessInfo.processInfo.environment["HOME"] ?? "/tmp"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/retry_failed_migration.py").path
        let browser = try ProcessRunner.run("python3", [script, "http://127.0.0.1:\(port)", String(migration.id), screenshot], environment: environment, timeout: .seconds(120))
        #expect(browser.status == 0, "browser run failed:\n\(browser.stdout)\n\(browser.stderr)")
        #expect(try store.require(migration.id).status == .active)
        #expect(FileManager.default.fileExists(atPath: screenshot))
        print("browser test screenshot: \(screenshot)")
        #expect(web.terminate() == 0)
    }
}
