import ConveyorPostgres

/// What the operator sees for a migration: how far it got, how fast it goes, when it
/// will end.
public struct MigrationProgress: Sendable {
    /// 0–100; nil when it cannot be known.
    public var percent: Double?
    public var migratedRows: Int64
    public var totalRows: Int64?
    /// Rows per second over the recent batches.
    public var rowsPerSecond: Double?
    /// Seconds until done at the recent rate.
    public var etaSeconds: Double?
    public var jobCounts: [BatchedJobStatus: Int]
    /// Integer walks: the greatest key batched so far (cursor walks keep theirs in the
    /// migration's `last_cursor`).
    public var lastKey: Int64?

    /// Measures a migration. Progress follows GitLab (succeeded rows over the estimated
    /// rows, at most 99% until finished) for every strategy: the estimate is the planner's
    /// row count for the walk's range (and scope) when it was queued, so cursor walks over
    /// uuid or text keys get a percentage and an ETA too. Without an estimate an integer
    /// walk falls back to the share of its key range covered by succeeded batches.
    public static func measure(_ migration: BatchedMigration, db: PostgresConnection) throws -> MigrationProgress {
        let row = try db.query(
            """
            SELECT coalesce(sum(coalesce((metrics->>'rows')::bigint, batch_size)) FILTER (WHERE status = 3), 0)::bigint AS migrated,
                   max(max_value) FILTER (WHERE status = 3) AS covered, max(max_value) AS last_key,
                   count(*) FILTER (WHERE status = 0) AS pending, count(*) FILTER (WHERE status = 1) AS running,
                   count(*) FILTER (WHERE status = 2) AS failed, count(*) FILTER (WHERE status = 3) AS succeeded
            FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(migration.id)
            """).first
        let migrated = try row?["migrated"].int64() ?? 0
        var counts: [BatchedJobStatus: Int] = [:]
        for status in BatchedJobStatus.allCases { counts[status] = try row?[status.name].int() ?? 0 }
        let recent = try db.query(
            """
            SELECT coalesce(sum(coalesce((metrics->>'rows')::bigint, batch_size)), 0)::float8 AS rows,
                   extract(epoch FROM max(finished_at) - min(started_at))::float8 AS span, count(*) AS n
            FROM (SELECT metrics, batch_size, started_at, finished_at FROM batched_background_migration_jobs
                  WHERE batched_background_migration_id = \(migration.id) AND status = 3 AND finished_at IS NOT NULL
                  ORDER BY finished_at DESC LIMIT 20) r
            """).first
        var rate: Double?
        if let rows = try recent?["rows"].optionalDouble(), let span = try recent?["span"].optionalDouble(), span > 0, rows > 0 {
            rate = rows / span
        }
        var percent: Double?
        var total: Int64?
        if migration.status.isComplete {
            percent = 100
        } else if let estimate = migration.totalTupleCount, estimate > 0 {
            total = estimate
            percent = min(Double(migrated) * 100 / Double(estimate), 99)
        } else if migration.cursorColumns == nil, migration.maxValue >= migration.minValue {
            let span = Double(migration.maxValue - migration.minValue + 1)
            let covered = try row?["covered"].optionalInt64().map { Double($0 - migration.minValue + 1) } ?? 0
            percent = min(max(covered / span * 100, 0), 99)
        }
        var eta: Double?
        if let rate, rate > 0, !migration.status.isComplete {
            if let total {
                eta = Double(max(total - migrated, 0)) / rate
            } else if let percent, percent > 0 {
                eta = Double(migrated) * (100 - percent) / percent / rate
            }
        }
        return MigrationProgress(
            percent: percent, migratedRows: migrated, totalRows: total, rowsPerSecond: rate, etaSeconds: eta, jobCounts: counts,
            lastKey: try row?["last_key"].optionalInt64())
    }
}
