import ConveyorPostgres

/// GitLab's `PrimaryKeyBatchingStrategy` on one integer column: a batch is the first
/// `batch_size` existing keys from a starting point, so gaps cost nothing; ranges are
/// `BETWEEN first AND last`.
struct IntegerKeyWalk: BatchWalk {
    let db: PostgresConnection
    let table: QualifiedTableName
    let column: SQLIdentifier
    let scope: PostgresQuery?

    func bounds() throws -> BatchRange? {
        let row = try db.query(
            "SELECT min(\(identifier: column))::bigint AS lo, max(\(identifier: column))::bigint AS hi FROM \(table: table) WHERE true\(scopeClause)"
        ).first
        guard let lo = try row?["lo"].optionalInt64(), let hi = try row?["hi"].optionalInt64() else { return nil }
        return BatchRange(first: BatchCursor(integer: lo), last: BatchCursor(integer: hi))
    }

    func nextBatchQuery(from start: BatchStart, size: Int, limit: BatchCursor) throws -> PostgresQuery? {
        let from: Int64
        switch start {
        case .at(let key): from = try Self.integer(key)
        case .after(let key): from = try Self.integer(key) + 1
        }
        let max = try Self.integer(limit)
        guard from <= max else { return nil }
        return """
            SELECT min(k)::bigint::text AS lo, max(k)::bigint::text AS hi FROM (
              SELECT \(identifier: column) AS k FROM \(table: table)
              WHERE \(identifier: column) >= \(from) AND \(identifier: column) <= \(max)\(scopeClause)
              ORDER BY \(identifier: column) LIMIT \(size)) batch
            """
    }

    func keyAfter(_ size: Int, from: BatchCursor, in range: BatchRange) throws -> BatchCursor? {
        try db.query(
            """
            SELECT \(identifier: column)::bigint AS k FROM \(table: table)
            WHERE \(identifier: column) >= \(try Self.integer(from)) AND \(identifier: column) <= \(try Self.integer(range.last))\(scopeClause)
            ORDER BY \(identifier: column) OFFSET \(size) LIMIT 1
            """
        ).first?["k"].optionalInt64().map(BatchCursor.init(integer:))
    }

    func condition(from: BatchCursor, to end: BatchEnd) -> PostgresQuery {
        let first = from.integer ?? 0
        let last: Int64
        switch end {
        case .through(let key): last = key.integer ?? 0
        case .before(let key): last = (key.integer ?? 1) - 1
        }
        return "\(identifier: column) BETWEEN \(first) AND \(last)\(scopeClause)"
    }

    func split(_ range: BatchRange, firstPart size: Int) throws -> (end: BatchCursor, next: BatchCursor)? {
        guard let part = try nextBatch(from: .at(range.first), size: size, limit: range.last),
            let end = part.last.integer, let last = range.last.integer, end < last
        else { return nil }
        return (part.last, BatchCursor(integer: end + 1))
    }

    static func integer(_ key: BatchCursor) throws -> Int64 {
        guard let value = key.integer else {
            throw MigrationError(.invalidArguments, "expected an integer key, got \(key)")
        }
        return value
    }
}
