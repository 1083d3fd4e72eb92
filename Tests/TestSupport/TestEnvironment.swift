import ConveyorPostgres
import ConveyorRedis
import Foundation
import Synchronization

/// The servers `scripts/test` started. Tests that need them fail (never skip) when the
/// environment is missing, with a message saying how to run them.
public enum TestEnvironment {
    public struct Missing: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests with scripts/test, which starts Redis and PostgreSQL"
        }
    }

    static let nextDatabase = Atomic<Int>(1)
    static let nextSchema = Atomic<Int>(1)

    public static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(variable: name) }
        return value
    }

    public static var redisPort: Int {
        get throws { try Int(value("CONVEYOR_TEST_REDIS_PORT")) ?? 6390 }
    }

    /// A Redis URL for a database number no other test in this run uses.
    public static func isolatedRedisURL() throws -> String {
        let port = try redisPort
        let database = nextDatabase.wrappingAdd(1, ordering: .relaxed).oldValue
        precondition(database < 512, "more than 511 isolated Redis databases requested")
        return "redis://127.0.0.1:\(port)/\(database)"
    }

    /// A connection to an empty Redis database of this test's own, and its URL.
    public static func isolatedRedis() throws -> (RedisConnection, String) {
        let url = try isolatedRedisURL()
        let connection = try RedisConnection(url: url)
        try connection.command("FLUSHDB")
        return (connection, url)
    }

    public static var databaseURL: String {
        get throws { try value("DATABASE_URL") }
    }

    /// A fresh schema first on `search_path`, so tables named like Conveyor's own
    /// (`batched_background_migrations`, ...) do not collide between tests. Returns a
    /// connection and a URL that carries the same search_path for other processes.
    public static func isolatedPostgres(label: String = "t") throws -> (PostgresConnection, String, String) {
        let base = try databaseURL
        let number = nextSchema.wrappingAdd(1, ordering: .relaxed).oldValue
        let schema = "\(label)_\(getpid())_\(number)"
        let admin = try PostgresConnection(connectionString: base)
        try admin.execute("DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE; CREATE SCHEMA \"\(schema)\"")
        admin.close()
        let separator = base.contains("?") ? "&" : "?"
        let url = "\(base)\(separator)options=-csearch_path%3D\(schema)"
        let connection = try PostgresConnection(connectionString: url)
        return (connection, url, schema)
    }

    /// Where `swift build` put the products (the `conveyor` binary among them).
    public static var productsDirectory: URL {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("conveyor").path) { return directory }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug")
    }

    public static var conveyorBinary: String { productsDirectory.appendingPathComponent("conveyor").path }

    /// The checkout's root (from this file's path).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Where tests write files worth looking at (screenshots): `.data/test-artifacts`.
    public static var artifactsDirectory: URL {
        let directory = repositoryRoot.appendingPathComponent(".data/test-artifacts")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Python packages scripts/test installed for the browser test (Selenium).
    public static var pythonLibraryPath: String {
        ProcessInfo.processInfo.environment["CONVEYOR_TEST_PYTHONPATH"] ?? repositoryRoot.appendingPathComponent(".data/pylib").path
    }

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    public static func eventually(timeout: Duration = .seconds(30), interval: Duration = .milliseconds(50), _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
        }
        return try condition()
    }
}
