import ConveyorJSON
import ConveyorPostgres

/// Builds the walk of a migration: its batching strategy over its table (names resolved
/// against the catalog), narrowed by its job class's scope when that class is registered
/// here. Without the class the bounds are still right, only not narrowed: the job itself
/// then fails with `NameError` when it runs.
public struct BatchingStrategy {
    public let db: PostgresConnection
    public let jobs: BatchedJobRegistry

    public init(db: PostgresConnection, jobs: BatchedJobRegistry = .builtIn) {
        self.db = db
        self.jobs = jobs
    }

    func walk(for migration: BatchedMigration) throws -> any BatchWalk {
        try walk(batching: migration.batching, tableName: migration.tableName, jobClassName: migration.jobClassName, arguments: migration.jobArguments)
    }

    func walk(batching: Batching, tableName: String, jobClassName: String, arguments: JSONValue) throws -> any BatchWalk {
        let table = try db.resolveTable(tableName)
        let scope = try jobs.entry(jobClassName)?.scope(arguments, table, db)
        switch batching {
        case .integerKey(let column):
            return IntegerKeyWalk(db: db, table: table, column: try db.resolveColumn(column, in: table), scope: scope)
        case .distinctValues(let column):
            return DistinctValueWalk(db: db, table: table, column: try db.resolveColumn(column, in: table), scope: scope)
        case .cursor(let columns):
            return CursorWalk(db: db, table: table, columns: try columns.map { try db.resolveColumn($0, in: table) }, scope: scope)
        }
    }

    /// Where the next batch of `migration` starts: after the last batch so far (the job
    /// with the greatest `max_value`, GitLab's `last_job`; for cursor walks the migration's
    /// `last_cursor`), or at the start of the walk.
    public func nextStart(of migration: BatchedMigration, store: BatchedMigrationStore) throws -> BatchStart? {
        if migration.cursorColumns != nil {
            if let last = migration.lastCursor { return .after(last) }
            return migration.minCursor.map(BatchStart.at)
        }
        if let last = try store.lastJob(of: migration.id) { return .after(BatchCursor(integer: last.maxValue)) }
        return .at(BatchCursor(integer: migration.minValue))
    }

    /// The next batch of `migration`, or nil when the walk is done.
    public func nextBatch(of migration: BatchedMigration, store: BatchedMigrationStore) throws -> BatchRange? {
        guard let start = try nextStart(of: migration, store: store), let bounds = migration.bounds else { return nil }
        return try walk(for: migration).nextBatch(from: start, size: migration.batchSize, limit: bounds.last)
    }
}
