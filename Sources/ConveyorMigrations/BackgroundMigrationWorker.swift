import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import Logging

/// The Sidekiq job that runs non-batched migrations, as GitLab names it.
public enum BackgroundMigrationWorker {
    public static let className = "BackgroundMigrationWorker"
    public static let queue = "background_migration"
    /// Sidekiq `retry: 3`, as GitLab's worker.
    public static let retry = RetrySetting.limit(3)

    /// The payload a producer pushes: args `[migration_class, [args…]]`.
    public static func payload(migration: String, arguments: [JSONValue]) -> JobPayload {
        JobPayload(className: className, args: [.string(migration), .array(arguments)], queue: queue, retry: retry)
    }

    /// `(migration class, its arguments)` of a payload, nil when it is not one of ours.
    public static func migration(of payload: JobPayload) -> (String, [JSONValue])? {
        guard payload.className == className, let name = payload.args.first?.stringValue else { return nil }
        return (name, payload.args.count > 1 ? payload.args[1].arrayValue ?? [] : [])
    }

    /// Runs one migration and marks its tracking rows succeeded (unless the caller knows
    /// there are none: `track: false`).
    public static func perform(_ migration: String, _ arguments: [JSONValue], registry: BackgroundMigrationRegistry, db: PostgresConnection, logger: Logger, track: Bool = true) throws {
        guard let entry = registry.entry(migration) else {
            throw JobError.uninitializedConstant(
                migration, "no background migration '\(migration)' is registered (known: \(registry.classNames.joined(separator: ", ")))")
        }
        try entry.perform(arguments, BackgroundMigrationContext(db: db, logger: logger))
        if track { try BackgroundMigrationTracking.markSucceeded(className: migration, arguments: arguments, db) }
    }

    /// Adds the worker to a job registry.
    public static func register(into jobs: inout JobRegistry, migrations: BackgroundMigrationRegistry) {
        jobs.register(className) { context, args in
            guard let name = args.first?.stringValue else {
                throw JobError.badArguments("BackgroundMigrationWorker expects [migration_class, [arguments]], got \(JSONValue.array(args))")
            }
            let arguments = args.count > 1 ? (args[1].arrayValue ?? []) : []
            try perform(name, arguments, registry: migrations, db: try context.postgres(), logger: context.logger)
        }
    }
}

/// Rows of `background_migration_jobs` (GitLab's tracking of non-batched jobs).
public enum BackgroundMigrationTracking {
    public static let pending = 0
    public static let succeeded = 1

    /// Marks the pending rows of exactly this class and argument list succeeded.
    public static func markSucceeded(className: String, arguments: [JSONValue], _ db: PostgresConnection) throws {
        do {
            try db.query(
                """
                UPDATE background_migration_jobs SET status = \(succeeded), updated_at = now()
                WHERE class_name = \(className) AND arguments = \(JSONValue.array(arguments))::jsonb AND status = \(pending)
                """)
        } catch {
            guard error.sqlState == "42P01" else { throw error }  // no tracking table: nothing to mark
        }
    }

    /// Whether any row of `className` is pending (so marking can be skipped when none is).
    public static func hasPending(className: String, _ db: PostgresConnection) throws -> Bool {
        do {
            return try db.query(
                "SELECT EXISTS (SELECT 1 FROM background_migration_jobs WHERE class_name = \(className) AND status = \(pending)) AS any"
            ).first?["any"].bool() ?? false
        } catch {
            guard error.sqlState == "42P01" else { throw error }
            return false
        }
    }

    public struct Row: Sendable {
        public let id: Int64
        public let className: String
        public let arguments: [JSONValue]
    }

    public static func pendingRows(className: String?, limit: Int, afterID: Int64, _ db: PostgresConnection) throws -> [Row] {
        try db.query(
            """
            SELECT id, class_name, arguments FROM background_migration_jobs
            WHERE status = \(pending) AND (\(className)::text IS NULL OR class_name = \(className)) AND id > \(afterID)
            ORDER BY id LIMIT \(limit)
            """
        ).map { row in
            Row(id: try row["id"].int64(), className: try row["class_name"].string(), arguments: try row["arguments"].json().arrayValue ?? [])
        }
    }

    public static func pendingCount(className: String?, _ db: PostgresConnection) throws -> Int {
        try db.query(
            "SELECT count(*) AS n FROM background_migration_jobs WHERE status = \(pending) AND (\(className)::text IS NULL OR class_name = \(className))"
        ).first?["n"].int() ?? 0
    }
}
