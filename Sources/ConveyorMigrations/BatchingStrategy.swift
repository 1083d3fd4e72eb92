import ConveyorPostgres

/// GitLab's `PrimaryKeyBatchingStrategy`: a keyset walk over the batching column. A batch
/// is the first `batch_size` existing keys from a starting point, so gaps cost nothing.
public struct BatchingStrategy {
    public let db: PostgresConnection

    public init(db: PostgresConnection) { self.db = db }

    /// `[first, last]` keys of the next batch of `migration` starting at `from`, never
    /// beyond the migration's `max_value`; nil when no rows are left. Also returns how many
    /// rows the batch holds.
    public func nextBatch(migration: BatchedMigration, from start: Int64, size: Int) throws -> (min: Int64, max: Int64, rows: Int)? {
        guard start <= migration.maxValue else { return nil }
        let (table, column) = try resolve(migration)
        let row = try db.query(
            """
            SELECT min(k)::bigint AS lo, max(k)::bigint AS hi, count(*) AS n FROM (
              SELECT \(identifier: column) AS k FROM \(table: table)
              WHERE \(identifier: column) >= \(start) AND \(identifier: column) <= \(migration.maxValue)
              ORDER BY \(identifier: column) LIMIT \(size)) batch
            """).first
        guard let lo = try row?["lo"].optionalInt64(), let hi = try row?["hi"].optionalInt64() else { return nil }
        return (lo, min(hi, migration.maxValue), try row?["n"].int() ?? 0)
    }

    /// The last key of the first `size` rows from `start` (the midpoint of a split).
    public func batchEnd(migration: BatchedMigration, from start: Int64, size: Int) throws -> Int64? {
        try nextBatch(migration: migration, from: start, size: size)?.max
    }

    func resolve(_ migration: BatchedMigration) throws -> (QualifiedTableName, SQLIdentifier) {
        let table = try db.resolveTable(migration.tableName)
        return (table, try db.resolveColumn(migration.columnName, in: table))
    }
}
