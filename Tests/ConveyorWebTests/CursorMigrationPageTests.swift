import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorRedis
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TestSupport

@testable import ConveyorWeb

@Suite("Web admin: cursor migrations")
struct CursorMigrationPageTests {
    @Test("a cursor migration's page and API show its batching, cursor bounds, position and its jobs' cursor ranges")
    func cursorMigration() async throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "webcursor")
        try CursorFixtures.createPartitioned(db, rows: 3000, partitions: 3)
        try Schema.setUp(db)
        var options = BatchedMigrationStore.QueueOptions()
        options.batchSize = 1000
        options.subBatchSize = 500
        options.interval = 0
        options.cursor = ["partition_id", "id"]
        let store = BatchedMigrationStore(db: db)
        let migration = try store.queue(
            MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "pevents", columnName: "partition_id", jobArguments: [["n"], ["a"]]),
            options: options, jobs: .builtIn)
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        _ = try runner.withTableLease("pevents") { try runner.runStep(try store.require(migration.id), settings: MigrationSettings(), adjust: false) }
        let job = try #require(try store.jobs(of: migration.id).first)
        let configuration = WebConfiguration(redis: try RedisConfiguration(url: redisURL), postgres: PostgresConfiguration(connectionString: databaseURL), poolSize: 2)
        let app = Application(router: try WebApplication.buildRouter(configuration: configuration))
        try await app.test(.router) { client in
            try await client.execute(uri: "/admin/background_migrations", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("(partition_id, id)"), "\(html)")
                #expect(html.contains("33.33%"), "a third of the estimated rows")
            }
            try await client.execute(uri: "/admin/background_migrations/\(migration.id)", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("PrimaryKeyBatchingStrategy with cursor (partition_id, id)"))
                #expect(html.contains("[1,3]...[3,2999]"), "keys")
                #expect(html.contains("[1,3000]"), "position: the last key of partition 1, the 1,000th")
            }
            try await client.execute(uri: "/admin/background_migrations/\(migration.id)/batched_jobs/\(job.id)", method: .get) { response in
                #expect(String(buffer: response.body).contains("[1,3]...[1,3000]"))
            }
            try await client.execute(uri: "/api/background_migrations/\(migration.id)", method: .get) { response in
                let json = try JSONValue.parse(String(buffer: response.body))
                #expect(json["cursor_columns"] == ["partition_id", "id"])
                #expect(json["min_cursor"] == [1, 3] && json["max_cursor"] == [3, 2999] && json["last_cursor"] == [1, 3000])
                #expect(json["position"] == [1, 3000])
                #expect(json["eta_seconds"] != nil && json["eta_seconds"] != .null)
            }
            try await client.execute(uri: "/api/background_migrations/\(migration.id)/batched_jobs/\(job.id)", method: .get) { response in
                let json = try JSONValue.parse(String(buffer: response.body))
                #expect(json["min_cursor"] == [1, 3] && json["max_cursor"] == [1, 3000] && json["min_value"] == .null)
            }
        }
    }
}
