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
    /// The ETA's range (`EtaRange`): low ≤ etaSeconds ≤ high.
    public var etaLowSeconds: Double?
    public var etaHighSeconds: Double?
    /// Rows left to migrate (the point estimate), when known.
    public var rowsLeft: Int64?
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
            SELECT coalesce((metrics->>'rows')::bigint, batch_size)::float8 AS rows,
                   extract(epoch FROM coalesce(started_at, created_at))::float8 AS started, extract(epoch FROM finished_at)::float8 AS finished
            FROM batched_background_migration_jobs
            WHERE batched_background_migration_id = \(migration.id) AND status = 3 AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 20
            """).map { EtaRange.Batch(rows: try $0["rows"].double(), startedAt: try $0["started"].double(), finishedAt: try $0["finished"].double()) }
        let rates = EtaRange.rate(recent)
        let rate = rates?.rowsPerSecond
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
        var eta: EtaRange.Eta?
        var rowsLeft: [Double] = []
        let lastKey = try row?["last_key"].optionalInt64()
        if let rates, !migration.status.isComplete {
            if let total { rowsLeft.append(Double(max(total - migrated, 0))) }
            rowsLeft += (try? rowsLeftEstimates(migration, migrated: migrated, covered: try row?["covered"].optionalInt64(), lastKey: lastKey, db: db)) ?? []
            if rowsLeft.isEmpty, let percent, percent > 0 { rowsLeft.append(Double(migrated) * (100 - percent) / percent) }
            eta = EtaRange.eta(rowsLeft: rowsLeft, rate: rates)
        }
        return MigrationProgress(
            percent: percent, migratedRows: migrated, totalRows: total, rowsPerSecond: rate, etaSeconds: eta?.seconds,
            etaLowSeconds: eta?.low, etaHighSeconds: eta?.high, rowsLeft: rowsLeft.first.map { Int64($0.rounded()) }, jobCounts: counts,
            lastKey: lastKey)
    }

    /// Other estimates of the rows left past the walk's position: for integer walks the
    /// density of the rows migrated so far over the keys they covered, times the keys left;
    /// for cursor walks the planner's count of the rows past the cursor.
    static func rowsLeftEstimates(_ migration: BatchedMigration, migrated: Int64, covered: Int64?, lastKey: Int64?, db: PostgresConnection) throws -> [Double] {
        if migration.cursorColumns != nil {
            guard let last = migration.lastCursor, let end = migration.maxCursor else { return [] }
            let walk = try BatchingStrategy(db: db).walk(for: migration)
            return try walk.estimatedRows(in: BatchRange(first: last, last: end)).map { [Double($0)] } ?? []
        }
        guard let covered, migrated > 0, covered >= migration.minValue else { return [] }
        let density = Double(migrated) / Double(covered - migration.minValue + 1)
        let keysLeft = Double(max(migration.maxValue - max(lastKey ?? covered, covered), 0))
        return [density * keysLeft]
    }
}
