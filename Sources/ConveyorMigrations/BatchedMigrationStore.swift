import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// SQL access to the batched migration tables. Table and column names from users are
/// resolved through the catalog and quoted; every value is a bind.
public struct BatchedMigrationStore {
    public let db: PostgresConnection

    public init(db: PostgresConnection) { self.db = db }

    public struct QueueOptions: Sendable {
        public var batchSize = 1_000
        public var subBatchSize = 100
        public var interval = 120
        public var pauseMilliseconds = 100
        public var maxBatchSize: Int?
        /// Integer walks: the first and last key (default 1 and the column's maximum).
        public var minValue: Int64?
        public var maxValue: Int64?
        /// `--batch-class`.
        public var batchClass: BatchClass = .primaryKey
        /// `--cursor COL[,COL…]`: walk this unique tuple instead of one integer column.
        public var cursor: [String]?

        public init() {}
    }

    // MARK: - Queueing

    /// Creates a migration (GitLab's `queue_batched_background_migration`): active, or
    /// finished at once when there is nothing to migrate. Everything is checked first —
    /// sizes, the job class and its arguments, table and columns against the catalog, the
    /// batching strategy (a cursor must be unique and indexed), the job's scope — so bad
    /// input queues nothing and is refused with a one-line reason.
    @discardableResult
    public func queue(_ configuration: MigrationConfiguration, options: QueueOptions, jobs: BatchedJobRegistry) throws -> BatchedMigration {
        guard options.batchSize >= 1, options.subBatchSize >= 1 else {
            throw MigrationError(.invalidArguments, "--batch-size and --sub-batch-size must be at least 1")
        }
        guard options.subBatchSize <= options.batchSize else {
            throw MigrationError(.invalidArguments, "--sub-batch-size (\(options.subBatchSize)) cannot be larger than --batch-size (\(options.batchSize))")
        }
        guard options.interval >= 0, options.pauseMilliseconds >= 0 else {
            throw MigrationError(.invalidArguments, "--interval and --pause-ms must be ≥ 0")
        }
        if let min = options.minValue, min < 1 { throw MigrationError(.invalidArguments, "--min-value must be at least 1") }
        if let max = options.maxBatchSize, max < options.batchSize {
            throw MigrationError(.invalidArguments, "--max-batch-size (\(max)) cannot be smaller than --batch-size (\(options.batchSize))")
        }
        guard let job = jobs.entry(configuration.jobClassName) else {
            throw MigrationError(.unknownClass, "unknown batched migration job class '\(configuration.jobClassName)' (known: \(jobs.classNames.joined(separator: ", ")))")
        }
        let table = try db.resolveTable(configuration.tableName)
        let facts = try TableFacts.load(table, db: db)
        let request = BatchingPlan.Request(
            column: configuration.columnName, cursor: options.cursor, batchClass: options.batchClass,
            jobClassName: configuration.jobClassName, jobCursor: job.cursor)
        let batching = try BatchingPlan.choose(request, facts: facts).get()
        if batching.isCursor, options.minValue != nil || options.maxValue != nil {
            throw MigrationError(.invalidArguments, "--min-value and --max-value bound integer walks; a cursor walk covers the whole table (in its job's scope)")
        }
        try job.validate(configuration.jobArguments, table, db)
        try validateScope(of: configuration, job: job, table: table)
        if let existing = try find(configuration) {
            throw MigrationError(
                .alreadyExists,
                "Batched background migration not enqueued because it already exists (id \(existing.id), \(existing.status.name)): job_class_name: \(configuration.jobClassName), table_name: \(configuration.tableName), column_name: \(configuration.columnName), job_arguments: \(configuration.jobArguments.serialized())")
        }
        let walk = try BatchingStrategy(db: db, jobs: jobs).walk(
            batching: batching, tableName: configuration.tableName, jobClassName: configuration.jobClassName, arguments: configuration.jobArguments)
        let found = try walk.bounds()
        var bounds: BatchRange?
        if batching.isCursor {
            bounds = found
        } else {
            let min: Int64 = options.minValue ?? 1
            let last: Int64? = options.maxValue ?? found?.last.integer
            if let max = last, max >= min {
                bounds = BatchRange(first: BatchCursor(integer: min), last: BatchCursor(integer: max))
            }
        }
        // The whole table (in scope) unless integer bounds were given: the planner estimates
        // a table far better than a range of row comparisons.
        let whole = batching.isCursor || (options.minValue == nil && options.maxValue == nil)
        let estimate = bounds == nil ? 0 : try walk.estimatedRows(in: whole ? nil : bounds)
        let empty = bounds == nil
        let status: BatchedMigrationStatus = empty ? .finished : .active
        // Cursor walks keep their bounds in min_cursor/max_cursor; min_value keeps its default.
        var minValue: Int64 = 1
        var maxValue: Int64?
        if !batching.isCursor {
            minValue = bounds?.first.integer ?? options.minValue ?? 1
            maxValue = bounds?.last.integer ?? minValue
        }
        // Typed as optionals: a bare `nil` would become JSON null, not SQL NULL.
        let cursorColumns: JSONValue? = batching.cursorColumns.map { .array($0.map { .string($0) }) }
        var minCursor: JSONValue?
        var maxCursor: JSONValue?
        if batching.isCursor {
            minCursor = bounds?.first.json
            maxCursor = bounds?.last.json
        }
        do {
            let row = try db.query(
                """
                INSERT INTO batched_background_migrations
                  (job_class_name, batch_class_name, table_name, column_name, job_arguments, min_value, max_value, batch_size, sub_batch_size,
                   max_batch_size, "interval", pause_ms, status, total_tuple_count, started_at, finished_at,
                   cursor_columns, min_cursor, max_cursor)
                VALUES (\(configuration.jobClassName), \(batching.batchClass.rawValue), \(configuration.tableName), \(configuration.columnName),
                        \(configuration.jobArguments)::jsonb, \(minValue), \(maxValue),
                        \(options.batchSize), \(options.subBatchSize), \(options.maxBatchSize), \(options.interval),
                        \(options.pauseMilliseconds), \(status.rawValue), \(estimate),
                        \(empty ? nil : Date()), \(empty ? Date() : nil),
                        \(cursorColumns)::jsonb, \(minCursor)::jsonb, \(maxCursor)::jsonb)
                RETURNING \(unescaped: BatchedMigration.columns)
                """)
            return try BatchedMigration(row: row[0])
        } catch let error as PostgresError where error.isUniqueViolation {
            throw MigrationError(.alreadyExists, "Batched background migration not enqueued because it already exists: \(configuration)")
        }
    }

    /// A scope must compile against the table: an unknown column or a type mismatch is
    /// refused now, not at the first batch.
    func validateScope(of configuration: MigrationConfiguration, job: BatchedJobRegistry.Entry, table: QualifiedTableName) throws {
        guard let scope = try scope(of: configuration, job: job, table: table) else { return }
        do {
            try db.query("SELECT 1 FROM \(table: table) WHERE (\(scope)) LIMIT 0")
        } catch {
            throw MigrationError(.invalidArguments, "the scope of \(configuration.jobClassName) does not fit table '\(table)': \(error.description)")
        }
    }

    private func scope(of configuration: MigrationConfiguration, job: BatchedJobRegistry.Entry, table: QualifiedTableName) throws -> PostgresQuery? {
        do {
            return try job.scope(configuration.jobArguments, table, db)
        } catch {
            throw MigrationError(.invalidArguments, "the scope of \(configuration.jobClassName) is invalid: \(error)")
        }
    }

    // MARK: - Reading

    public func find(_ id: Int64) throws -> BatchedMigration? {
        try db.query("SELECT \(unescaped: BatchedMigration.columns) FROM batched_background_migrations WHERE id = \(id)")
            .first.map(BatchedMigration.init)
    }

    /// The migration and the global switch (`execute_batched_migrations_on_schedule`) in
    /// one round trip, for a worker between two batches.
    public func findWithSwitch(_ id: Int64) throws -> (BatchedMigration?, Bool) {
        let row = try db.query(
            """
            SELECT \(unescaped: BatchedMigration.columns),
                   (SELECT value FROM conveyor_settings WHERE name = 'execute_batched_migrations_on_schedule') AS execute_switch
            FROM batched_background_migrations WHERE id = \(id)
            """).first
        guard let row else { return (nil, true) }
        return (try BatchedMigration(row: row), MigrationSettings.switchValue(try row["execute_switch"].optionalString()))
    }

    public func require(_ id: Int64) throws -> BatchedMigration {
        guard let migration = try find(id) else { throw MigrationError(.notFound, "no batched background migration with id \(id)") }
        return migration
    }

    /// GitLab's `find_for_configuration`: job arguments compare as jsonb.
    public func find(_ configuration: MigrationConfiguration) throws -> BatchedMigration? {
        try db.query(
            """
            SELECT \(unescaped: BatchedMigration.columns) FROM batched_background_migrations
            WHERE job_class_name = \(configuration.jobClassName) AND table_name = \(configuration.tableName)
              AND column_name = \(configuration.columnName) AND job_arguments = \(configuration.jobArguments)::jsonb
            ORDER BY id LIMIT 1
            """
        ).first.map(BatchedMigration.init)
    }

    public func list(statuses: [BatchedMigrationStatus]? = nil, descending: Bool = false) throws -> [BatchedMigration] {
        let wanted = (statuses ?? BatchedMigrationStatus.allCases).map { JSONValue($0.rawValue) }
        return try db.query(
            """
            SELECT \(unescaped: BatchedMigration.columns) FROM batched_background_migrations
            WHERE status IN (SELECT (jsonb_array_elements_text(\(JSONValue.array(wanted))::jsonb))::smallint)
            ORDER BY id \(unescaped: descending ? "DESC" : "ASC")
            """
        ).map(BatchedMigration.init)
    }

    public func countByStatus() throws -> [BatchedMigrationStatus: Int] {
        var counts: [BatchedMigrationStatus: Int] = [:]
        for row in try db.query("SELECT status, count(*) AS n FROM batched_background_migrations GROUP BY status") {
            if let status = BatchedMigrationStatus(rawValue: try row["status"].int()) { counts[status] = try row["n"].int() }
        }
        return counts
    }

    /// GitLab's `active_migrations_distinct_on_table`: the lowest-id executable migration
    /// of each table (active, not on hold), lowest ids first, at most `limit`.
    public func executableDistinctOnTable(limit: Int) throws -> [BatchedMigration] {
        try db.query(
            """
            SELECT \(unescaped: BatchedMigration.columns) FROM batched_background_migrations
            WHERE id IN (
              SELECT DISTINCT ON (table_name) id FROM batched_background_migrations
              WHERE status = \(BatchedMigrationStatus.active.rawValue) AND (on_hold_until IS NULL OR on_hold_until < now())
              ORDER BY table_name, id)
            ORDER BY id LIMIT \(limit)
            """
        ).map(BatchedMigration.init)
    }

    // MARK: - Migration state

    /// Applies an event under a row lock, setting GitLab's timestamps; with an `actor`, the
    /// action is recorded in the audit trail in the same transaction.
    @discardableResult
    public func apply(_ event: BatchedMigrationStatus.Event, to id: Int64, actor: OperatorActor? = nil) throws -> BatchedMigration {
        try atomically { tx in
            guard let row = try tx.query("SELECT status FROM batched_background_migrations WHERE id = \(id) FOR UPDATE").first else {
                throw MigrationError(.notFound, "no batched background migration with id \(id)")
            }
            let current = BatchedMigrationStatus(rawValue: try row["status"].int()) ?? .paused
            let target = try current.applying(event).get()
            if event == .finish {
                let unfinished = try tx.query(
                    "SELECT count(*) AS n FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id) AND status <> \(BatchedJobStatus.succeeded.rawValue)"
                ).first?["n"].int() ?? 0
                guard unfinished == 0 else {
                    throw MigrationError(.invalidState, "cannot mark migration \(id) finished: \(unfinished) of its jobs have not succeeded")
                }
            }
            let setStarted = event.starts
            let setFinished = event == .finish
            let updated = try BatchedMigration(row: tx.query(
                """
                UPDATE batched_background_migrations SET status = \(target.rawValue), updated_at = now(),
                  started_at = CASE WHEN \(setStarted) THEN now() ELSE started_at END,
                  finished_at = CASE WHEN \(setFinished) THEN now() ELSE finished_at END,
                  on_hold_until = CASE WHEN \(setStarted) THEN NULL ELSE on_hold_until END
                WHERE id = \(id)
                RETURNING \(unescaped: BatchedMigration.columns)
                """)[0])
            if let actor {
                try AuditLog.record(tx, actor: actor, action: event.auditAction, migrationID: id, target: AuditLog.target(updated),
                                    changes: AuditLog.statusChange(current, target))
            }
            return updated
        }
    }

    /// Runs `body` in a transaction, or inside the caller's when one is open.
    func atomically<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        db.inTransaction ? try body(db) : try db.transaction(body)
    }

    public func hold(_ id: Int64, until: Date) throws {
        try db.query("UPDATE batched_background_migrations SET on_hold_until = \(until), updated_at = now() WHERE id = \(id)")
    }

    public func setBatchSize(_ id: Int64, _ size: Int) throws {
        try db.query("UPDATE batched_background_migrations SET batch_size = \(size), updated_at = now() WHERE id = \(id)")
    }

    /// Sets the batch size only if it still is `from`; false when it changed meanwhile.
    func setBatchSize(_ id: Int64, _ size: Int, from: Int) throws -> Bool {
        try db.query("UPDATE batched_background_migrations SET batch_size = \(size), updated_at = now() WHERE id = \(id) AND batch_size = \(from)").affectedRows == 1
    }

    /// Marks every job succeeded and the migration finished without running anything
    /// (GitLab's documented "mark a batched migration finished" procedure).
    public func markFinished(_ id: Int64, actor: OperatorActor? = nil) throws -> (BatchedMigration, Int) {
        try atomically { tx in
            guard let row = try tx.query("SELECT status FROM batched_background_migrations WHERE id = \(id) FOR UPDATE").first else {
                throw MigrationError(.notFound, "no batched background migration with id \(id)")
            }
            let before = BatchedMigrationStatus(rawValue: try row["status"].int())
            let jobs = try tx.query(
                """
                UPDATE batched_background_migration_jobs SET status = \(BatchedJobStatus.succeeded.rawValue), updated_at = now(),
                  finished_at = coalesce(finished_at, now())
                WHERE batched_background_migration_id = \(id) AND status <> \(BatchedJobStatus.succeeded.rawValue)
                """).affectedRows
            let rows = try tx.query(
                """
                UPDATE batched_background_migrations SET status = \(BatchedMigrationStatus.finished.rawValue),
                  finished_at = now(), updated_at = now(), on_hold_until = NULL
                WHERE id = \(id) RETURNING \(unescaped: BatchedMigration.columns)
                """)
            guard let row = rows.first else { throw MigrationError(.notFound, "no batched background migration with id \(id)") }
            let finished = try BatchedMigration(row: row)
            if let actor {
                guard case .object(var changes) = AuditLog.statusChange(before, finished.status) else { return (finished, jobs) }
                changes["jobs_marked_succeeded"] = AuditLog.change(.null, JSONValue(jobs))
                try AuditLog.record(tx, actor: actor, action: "mark-finished", migrationID: id, target: AuditLog.target(finished), changes: .object(changes))
            }
            return (finished, jobs)
        }
    }
}
