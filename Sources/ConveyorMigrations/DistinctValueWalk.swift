import ConveyorPostgres

/// GitLab's `LooseIndexScanBatchingStrategy`: a batch is `batch_size` distinct values of a
/// non-unique integer column (a foreign key such as `project_id`). The values are found by
/// a loose index scan — a recursive query that jumps from one value to the next over the
/// column's index, one index descent per value — never by reading every row with
/// `DISTINCT`. A range holds every row whose value lies in it.
struct DistinctValueWalk: BatchWalk {
    let db: PostgresConnection
    let table: QualifiedTableName
    let column: SQLIdentifier
    let scope: PostgresQuery?

    /// The distinct values from `from` up to `max` (included), as a row source `walk(v)`.
    func distinctValues(from: Int64, through max: Int64) -> PostgresQuery {
        """
        WITH RECURSIVE walk(v) AS (
          (SELECT \(identifier: column) FROM \(table: table)
           WHERE \(identifier: column) >= \(from) AND \(identifier: column) <= \(max)\(scopeClause)
           ORDER BY \(identifier: column) LIMIT 1)
          UNION ALL
          SELECT (SELECT t.\(identifier: column) FROM \(table: table) t
                  WHERE t.\(identifier: column) > walk.v AND t.\(identifier: column) <= \(max)\(scopeClause)
                  ORDER BY t.\(identifier: column) LIMIT 1)
          FROM walk WHERE walk.v IS NOT NULL)
        """
    }

    func bounds() throws -> BatchRange? {
        try IntegerKeyWalk(db: db, table: table, column: column, scope: scope).bounds()
    }

    func nextBatchQuery(from start: BatchStart, size: Int, limit: BatchCursor) throws -> PostgresQuery? {
        let from: Int64
        switch start {
        case .at(let key): from = try IntegerKeyWalk.integer(key)
        case .after(let key): from = try IntegerKeyWalk.integer(key) + 1
        }
        let max = try IntegerKeyWalk.integer(limit)
        guard from <= max else { return nil }
        return """
            \(distinctValues(from: from, through: max))
            SELECT min(v)::bigint::text AS lo, max(v)::bigint::text AS hi FROM (SELECT v FROM walk WHERE v IS NOT NULL LIMIT \(size)) batch
            """
    }

    func keyAfter(_ size: Int, from: BatchCursor, in range: BatchRange) throws -> BatchCursor? {
        try db.query(
            """
            \(distinctValues(from: try IntegerKeyWalk.integer(from), through: try IntegerKeyWalk.integer(range.last)))
            SELECT v::bigint AS k FROM walk WHERE v IS NOT NULL OFFSET \(size) LIMIT 1
            """
        ).first?["k"].optionalInt64().map(BatchCursor.init(integer:))
    }

    func condition(from: BatchCursor, to end: BatchEnd) -> PostgresQuery {
        IntegerKeyWalk(db: db, table: table, column: column, scope: scope).condition(from: from, to: end)
    }

    func split(_ range: BatchRange, firstPart size: Int) throws -> (end: BatchCursor, next: BatchCursor)? {
        guard let part = try nextBatch(from: .at(range.first), size: size, limit: range.last),
            let end = part.last.integer, let last = range.last.integer, end < last
        else { return nil }
        return (part.last, BatchCursor(integer: end + 1))
    }
}
