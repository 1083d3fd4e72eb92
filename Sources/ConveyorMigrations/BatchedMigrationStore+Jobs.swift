import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BatchedMigrationStore {
    /// The job with the greatest `max_value` (GitLab's `last_job`).
    public func lastJob(of migrationID: Int64) throws -> BatchedJob? {
        try db.query(
            """
            SELECT \(unescaped: BatchedJob.columns) FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migrationID) ORDER BY max_value DESC NULLS LAST, id DESC LIMIT 1
            """
        ).first.map(BatchedJob.init)
    }

    /// When the newest job was created (what the interval is measured from).
    public func newestJobCreatedAt(of migrationID: Int64) throws -> Date? {
        try db.query(
            """
            SELECT created_at FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migrationID) ORDER BY id DESC LIMIT 1
            """
        ).first?["created_at"].date()
    }

    public func job(_ id: Int64) throws -> BatchedJob? {
        try db.query("SELECT \(unescaped: BatchedJob.columns) FROM batched_background_migration_jobs WHERE id = \(id)").first.map(BatchedJob.init)
    }

    public func jobs(of migrationID: Int64, status: BatchedJobStatus? = nil, limit: Int = 1000, newestFirst: Bool = false) throws -> [BatchedJob] {
        try db.query(
            """
            SELECT \(unescaped: BatchedJob.columns) FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migrationID) AND (\(status?.rawValue)::int IS NULL OR status = \(status?.rawValue))
            ORDER BY id \(unescaped: newestFirst ? "DESC" : "ASC") LIMIT \(limit)
            """
        ).map(BatchedJob.init)
    }

    /// A job worth running again: failed with attempts left, or abandoned. Callers that
    /// hold the table's lease pass `interruptedAreAbandoned`: no one else can be running a
    /// job of this table then, so a pending or running one was interrupted by a crash.
    public func retriableJob(of migrationID: Int64, interruptedAreAbandoned: Bool, excluding: [Int64] = []) throws -> BatchedJob? {
        try db.query(
            """
            SELECT \(unescaped: BatchedJob.columns) FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migrationID)
              AND NOT (id = ANY (\("{" + excluding.map(String.init).joined(separator: ",") + "}")::bigint[])) AND (
                 (status = \(BatchedJobStatus.failed.rawValue) AND attempts < \(BatchedJob.maxAttempts))
              OR (status IN (\(BatchedJobStatus.pending.rawValue), \(BatchedJobStatus.running.rawValue))
                  AND (\(interruptedAreAbandoned) OR updated_at <= now() - make_interval(secs => \(BatchedJob.stuckTimeout)))))
            ORDER BY id LIMIT 1
            """
        ).first.map(BatchedJob.init)
    }

    public func jobCounts(of migrationID: Int64) throws -> [BatchedJobStatus: Int] {
        var counts: [BatchedJobStatus: Int] = [:]
        for row in try db.query(
            "SELECT status, count(*) AS n FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(migrationID) GROUP BY status")
        {
            if let status = BatchedJobStatus(rawValue: try row["status"].int()) { counts[status] = try row["n"].int() }
        }
        return counts
    }

    /// Creates the next batch with the migration's current sizes; `running` creates it
    /// already running (its first attempt counted, the pending → running transition
    /// logged), which saves a round trip when the caller runs it next. A cursor walk's
    /// `last_cursor` moves to the batch's end in the same statement.
    public func createJob(for migration: BatchedMigration, range: BatchRange, running: Bool = false) throws -> BatchedJob {
        let cursor = migration.cursorColumns != nil
        // Typed as optionals: a bare `nil` would become JSON null (JSONValue is nil-literal
        // expressible) where SQL NULL is meant.
        let minCursor: JSONValue? = cursor ? .some(range.first.json) : .none
        let maxCursor: JSONValue? = cursor ? .some(range.last.json) : .none
        return try BatchedJob(row: db.query(
            """
            WITH job AS (
              INSERT INTO batched_background_migration_jobs
                (batched_background_migration_id, min_value, max_value, min_cursor, max_cursor, batch_size, sub_batch_size, pause_ms,
                 status, attempts, started_at)
              VALUES (\(migration.id), \(cursor ? nil : range.first.integer), \(cursor ? nil : range.last.integer),
                      \(minCursor)::jsonb, \(maxCursor)::jsonb,
                      \(migration.batchSize), \(migration.subBatchSize), \(migration.pauseMilliseconds),
                      \(running ? BatchedJobStatus.running.rawValue : BatchedJobStatus.pending.rawValue), \(running ? 1 : 0),
                      CASE WHEN \(running) THEN now() END)
              RETURNING \(unescaped: BatchedJob.columns)
            ), walked AS (
              UPDATE batched_background_migrations SET last_cursor = \(range.last.json)::jsonb WHERE id = \(migration.id) AND \(cursor)
            ), logged AS (
              INSERT INTO batched_background_migration_job_transition_logs (batched_background_migration_job_id, previous_status, next_status)
              SELECT id, \(BatchedJobStatus.pending.rawValue), \(BatchedJobStatus.running.rawValue) FROM job WHERE \(running)
            )
            SELECT * FROM job
            """)[0])
    }

    /// Finds the next batch with `batch` (a walk's `nextBatchQuery`) and creates it already
    /// running, in one statement: one round trip for a worker between two batches. nil
    /// when the walk is done.
    func createNextRunningJob(for migration: BatchedMigration, batch: PostgresQuery) throws -> BatchedJob? {
        let cursor = migration.cursorColumns != nil
        let bounds = cursor ? "NULL::bigint, NULL::bigint, lo::jsonb, hi::jsonb" : "lo::bigint, hi::bigint, NULL::jsonb, NULL::jsonb"
        return try db.query(
            """
            WITH batch AS (\(batch)), job AS (
              INSERT INTO batched_background_migration_jobs
                (batched_background_migration_id, min_value, max_value, min_cursor, max_cursor, batch_size, sub_batch_size, pause_ms,
                 status, attempts, started_at)
              SELECT \(migration.id), \(unescaped: bounds), \(migration.batchSize), \(migration.subBatchSize), \(migration.pauseMilliseconds),
                     \(BatchedJobStatus.running.rawValue), 1, now()
              FROM batch WHERE lo IS NOT NULL AND hi IS NOT NULL
              RETURNING \(unescaped: BatchedJob.columns)
            ), walked AS (
              UPDATE batched_background_migrations m SET last_cursor = job.max_cursor FROM job WHERE m.id = \(migration.id) AND \(cursor)
            ), logged AS (
              INSERT INTO batched_background_migration_job_transition_logs (batched_background_migration_job_id, previous_status, next_status)
              SELECT id, \(BatchedJobStatus.pending.rawValue), \(BatchedJobStatus.running.rawValue) FROM job
            )
            SELECT * FROM job
            """
        ).first.map(BatchedJob.init)
    }

    /// Records a batch's success (with its transition log) and reads its migration and the
    /// global switch back, in one statement.
    func recordSuccess(_ job: BatchedJob, metrics: JSONValue) throws -> (BatchedMigration?, Bool) {
        let row = try db.query(
            """
            WITH updated AS (
              UPDATE batched_background_migration_jobs SET status = \(BatchedJobStatus.succeeded.rawValue), updated_at = now(),
                finished_at = now(), metrics = \(metrics)::jsonb
              WHERE id = \(job.id) RETURNING id
            ), logged AS (
              INSERT INTO batched_background_migration_job_transition_logs (batched_background_migration_job_id, previous_status, next_status)
              SELECT id, \(job.status.rawValue), \(BatchedJobStatus.succeeded.rawValue) FROM updated
            )
            SELECT \(unescaped: BatchedMigration.columns),
                   (SELECT value FROM conveyor_settings WHERE name = 'execute_batched_migrations_on_schedule') AS execute_switch,
                   (SELECT count(*) FROM updated) AS recorded
            FROM batched_background_migrations WHERE id = \(job.migrationID)
            """).first
        guard let row else { return (nil, true) }
        guard try row["recorded"].int() == 1 else { throw MigrationError(.notFound, "batched job \(job.id) no longer exists") }
        return (try BatchedMigration(row: row), MigrationSettings.switchValue(try row["execute_switch"].optionalString()))
    }

    /// Creates the next batch of an integer walk, keys `min...max`.
    public func createJob(for migration: BatchedMigration, min: Int64, max: Int64) throws -> BatchedJob {
        try createJob(for: migration, range: BatchRange(first: BatchCursor(integer: min), last: BatchCursor(integer: max)))
    }

    /// Moves a job to `status` and writes the transition log, atomically in one statement
    /// (one round trip). `running` counts an attempt and clears the previous run's results.
    @discardableResult
    public func transition(_ job: BatchedJob, to status: BatchedJobStatus, metrics: JSONValue? = nil, exceptionClass: String? = nil, exceptionMessage: String? = nil) throws -> BatchedJob {
        let rows = try db.query(
            """
            WITH updated AS (
              UPDATE batched_background_migration_jobs SET
                status = \(status.rawValue), updated_at = now(),
                attempts = attempts + CASE WHEN \(status == .running) THEN 1 ELSE 0 END,
                started_at = CASE WHEN \(status == .running) THEN now() ELSE started_at END,
                finished_at = CASE WHEN \(status == .running) THEN NULL WHEN \(status == .succeeded || status == .failed) THEN now() ELSE finished_at END,
                metrics = CASE WHEN \(status == .running) THEN '{}'::jsonb ELSE coalesce(\(metrics)::jsonb, metrics) END
              WHERE id = \(job.id)
              RETURNING \(unescaped: BatchedJob.columns)
            ), logged AS (
              INSERT INTO batched_background_migration_job_transition_logs
                (batched_background_migration_job_id, previous_status, next_status, exception_class, exception_message)
              SELECT id, \(job.status.rawValue), \(status.rawValue), \(exceptionClass.map { String($0.prefix(100)) }),
                     \(exceptionMessage.map { String($0.prefix(1000)) }) FROM updated
            )
            SELECT * FROM updated
            """)
        guard let row = rows.first else { throw MigrationError(.notFound, "batched job \(job.id) no longer exists") }
        return try BatchedJob(row: row)
    }

    public func setSubBatchSize(_ job: BatchedJob, _ size: Int) throws {
        try db.query("UPDATE batched_background_migration_jobs SET sub_batch_size = \(size), updated_at = now() WHERE id = \(job.id)")
    }

    /// GitLab's `split_and_retry!`, for every strategy (GitLab cannot split cursor jobs):
    /// halves the batch where its first half ends — the `batch_size / 2`-th key of its
    /// range, found by the migration's walk — and the second half becomes a new failed job
    /// with no attempts; both will be retried. Returns the new job, or nil when the batch
    /// only shrank or could not shrink.
    @discardableResult
    public func splitAndRetry(_ job: BatchedJob, migration: BatchedMigration, jobs: BatchedJobRegistry = .builtIn) throws -> BatchedJob? {
        try atomically { tx in
            guard let row = try tx.query("SELECT \(unescaped: BatchedJob.columns) FROM batched_background_migration_jobs WHERE id = \(job.id) FOR UPDATE").first else {
                return nil
            }
            let current = try BatchedJob(row: row)
            guard current.status == .failed else { throw MigrationError(.invalidState, "Only failed jobs can be split") }
            let newSize = current.batchSize / 2
            if newSize < 1 {
                try tx.query("UPDATE batched_background_migration_jobs SET attempts = 0, updated_at = now() WHERE id = \(job.id)")
                return nil
            }
            let walk = try BatchingStrategy(db: tx, jobs: jobs).walk(for: migration)
            guard let (end, next) = try walk.split(current.range, firstPart: newSize) else {
                try tx.query("UPDATE batched_background_migration_jobs SET batch_size = \(newSize), attempts = 0, updated_at = now() WHERE id = \(job.id)")
                return nil
            }
            let cursor = current.maxCursor != nil
            let nextCursor: JSONValue? = cursor ? .some(next.json) : .none
            try tx.query(
                """
                UPDATE batched_background_migration_jobs SET batch_size = \(newSize), attempts = 0,
                  max_value = CASE WHEN \(cursor) THEN max_value ELSE \(end.integer) END,
                  max_cursor = CASE WHEN \(cursor) THEN \(end.json)::jsonb ELSE max_cursor END,
                  started_at = NULL, finished_at = NULL, metrics = '{}'::jsonb, updated_at = now()
                WHERE id = \(job.id)
                """)
            return try BatchedJob(row: tx.query(
                """
                INSERT INTO batched_background_migration_jobs
                  (batched_background_migration_id, min_value, max_value, min_cursor, max_cursor, batch_size, sub_batch_size, pause_ms, status, attempts)
                VALUES (\(current.migrationID), \(cursor ? nil : next.integer), \(cursor ? nil : current.maxValue),
                        \(nextCursor)::jsonb, \(current.maxCursor?.json)::jsonb, \(newSize), \(min(current.subBatchSize, newSize)),
                        \(current.pauseMilliseconds), \(BatchedJobStatus.failed.rawValue), 0)
                RETURNING \(unescaped: BatchedJob.columns)
                """)[0])
        }
    }

    /// GitLab's `reset_attempts_of_blocked_jobs!`.
    @discardableResult
    public func resetAttemptsOfBlockedJobs(_ migrationID: Int64) throws -> Int {
        try db.query(
            """
            UPDATE batched_background_migration_jobs SET attempts = 0, updated_at = now()
            WHERE batched_background_migration_id = \(migrationID) AND attempts >= \(BatchedJob.maxAttempts)
              AND status <> \(BatchedJobStatus.succeeded.rawValue)
            """).affectedRows
    }

    public func transitionLogs(of jobID: Int64) throws -> [BatchedJobTransitionLog] {
        try db.query(
            """
            SELECT id, batched_background_migration_job_id, previous_status, next_status, exception_class, exception_message, created_at
            FROM batched_background_migration_job_transition_logs WHERE batched_background_migration_job_id = \(jobID) ORDER BY id
            """
        ).map { row in
            BatchedJobTransitionLog(
                id: try row["id"].int64(), jobID: try row["batched_background_migration_job_id"].int64(),
                previousStatus: BatchedJobStatus(rawValue: try row["previous_status"].int()),
                nextStatus: BatchedJobStatus(rawValue: try row["next_status"].int()),
                exceptionClass: try row["exception_class"].optionalString(), exceptionMessage: try row["exception_message"].optionalString(),
                createdAt: try row["created_at"].date())
        }
    }

    /// Durations of the newest succeeded jobs, newest first (for the optimizer).
    public func recentDurations(of migrationID: Int64, limit: Int) throws -> [Double] {
        try db.query(
            """
            SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migrationID) AND status = \(BatchedJobStatus.succeeded.rawValue)
              AND finished_at IS NOT NULL AND started_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT \(limit)
            """
        ).map { try $0["seconds"].double() }
    }
}
