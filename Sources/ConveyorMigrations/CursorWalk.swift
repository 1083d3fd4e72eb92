import ConveyorPostgres

/// Cursor batching (GitLab's `PrimaryKeyBatchingStrategy` with a job `cursor`): batches of
/// `batch_size` rows in the order of a unique tuple of columns of any orderable type
/// (`(partition_id, id)`, a uuid, text, timestamptz), found by walking the tuple's unique
/// index with row comparisons — `(a, b) > ($1, $2) ORDER BY a, b` — so no key arithmetic
/// is needed. Keys are read as `jsonb_build_array(a, b)` and bound back as untyped
/// parameters, which take each column's type (and collation).
struct CursorWalk: BatchWalk {
    let db: PostgresConnection
    let table: QualifiedTableName
    let columns: [SQLIdentifier]
    let scope: PostgresQuery?

    var row: String { "(" + columns.map(\.quoted).joined(separator: ", ") + ")" }
    var key: String { "jsonb_build_array(" + columns.map(\.quoted).joined(separator: ", ") + ")::text" }
    var ascending: String { columns.map(\.quoted).joined(separator: ", ") }
    var descending: String { columns.map { "\($0.quoted) DESC" }.joined(separator: ", ") }

    func checked(_ cursor: BatchCursor) throws -> BatchCursor {
        guard cursor.values.count == columns.count else {
            throw MigrationError(.invalidArguments, "cursor \(cursor) has \(cursor.values.count) values; the walk is over \(columns.count) columns \(row)")
        }
        return cursor
    }

    func bounds() throws -> BatchRange? {
        let row = try db.query(
            """
            SELECT (SELECT \(unescaped: key) FROM \(table: table) WHERE true\(scopeClause) ORDER BY \(unescaped: ascending) LIMIT 1) AS lo,
                   (SELECT \(unescaped: key) FROM \(table: table) WHERE true\(scopeClause) ORDER BY \(unescaped: descending) LIMIT 1) AS hi
            """).first
        guard let lo = try row?.cursor("lo"), let hi = try row?.cursor("hi") else { return nil }
        return BatchRange(first: lo, last: hi)
    }

    func nextBatchQuery(from start: BatchStart, size: Int, limit: BatchCursor) throws -> PostgresQuery? {
        let lower: PostgresQuery
        switch start {
        case .at(let key): lower = "\(unescaped: row) >= \(tuple(try checked(key)))"
        case .after(let key): lower = "\(unescaped: row) > \(tuple(try checked(key)))"
        }
        let range: PostgresQuery = "\(lower) AND \(unescaped: row) <= \(tuple(try checked(limit)))\(scopeClause)"
        // The last key is the size-th one; when fewer are left, the greatest one in range.
        return """
            SELECT (SELECT \(unescaped: key) FROM \(table: table) WHERE \(range) ORDER BY \(unescaped: ascending) LIMIT 1) AS lo,
                   coalesce((SELECT \(unescaped: key) FROM \(table: table) WHERE \(range) ORDER BY \(unescaped: ascending) OFFSET \(size - 1) LIMIT 1),
                            (SELECT \(unescaped: key) FROM \(table: table) WHERE \(range) ORDER BY \(unescaped: descending) LIMIT 1)) AS hi
            """
    }

    func keyAfter(_ size: Int, from: BatchCursor, in range: BatchRange) throws -> BatchCursor? {
        try db.query(
            """
            SELECT \(unescaped: key) AS k FROM \(table: table)
            WHERE \(condition(from: try checked(from), to: .through(try checked(range.last))))
            ORDER BY \(unescaped: ascending) OFFSET \(size) LIMIT 1
            """
        ).first?.cursor("k")
    }

    func condition(from: BatchCursor, to end: BatchEnd) -> PostgresQuery {
        switch end {
        case .through(let last): return "\(unescaped: row) >= \(tuple(from)) AND \(unescaped: row) <= \(tuple(last))\(scopeClause)"
        case .before(let next): return "\(unescaped: row) >= \(tuple(from)) AND \(unescaped: row) < \(tuple(next))\(scopeClause)"
        }
    }

    func split(_ range: BatchRange, firstPart size: Int) throws -> (end: BatchCursor, next: BatchCursor)? {
        let keys = try db.query(
            """
            SELECT \(unescaped: key) AS k FROM \(table: table)
            WHERE \(condition(from: try checked(range.first), to: .through(try checked(range.last))))
            ORDER BY \(unescaped: ascending) OFFSET \(max(size - 1, 0)) LIMIT 2
            """
        ).compactMap { try $0.cursor("k") }
        guard keys.count == 2 else { return nil }
        return (keys[0], keys[1])
    }
}
