import ConveyorJSON
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
    var list: String { columns.map(\.quoted).joined(separator: ", ") }
    var key: String { "jsonb_build_array(" + list + ")::text" }
    var ascending: String { columns.map(\.quoted).joined(separator: ", ") }
    var descending: String { columns.map { "\($0.quoted) DESC" }.joined(separator: ", ") }

    /// The keys at `offset` (and after, up to `limit`) of the rows matching `condition` in
    /// `order`, as JSON text. The JSON is built outside the index scan, for the rows
    /// returned only: built inside, it would be built for every row the OFFSET skips too
    /// (about six times slower for a batch of 10,000).
    func keys(_ condition: PostgresQuery, order: String, offset: Int = 0, limit: Int = 1) -> PostgresQuery {
        """
        SELECT \(unescaped: key) FROM (
          SELECT \(unescaped: list) FROM \(table: table) WHERE \(condition) ORDER BY \(unescaped: order) OFFSET \(offset) LIMIT \(limit)) k
        ORDER BY \(unescaped: order)
        """
    }

    func checked(_ cursor: BatchCursor) throws -> BatchCursor {
        guard cursor.values.count == columns.count else {
            throw MigrationError(.invalidArguments, "cursor \(cursor) has \(cursor.values.count) values; the walk is over \(columns.count) columns \(row)")
        }
        return cursor
    }

    func bounds() throws -> BatchRange? {
        let everything: PostgresQuery = "true\(scopeClause)"
        let row = try db.query(
            """
            SELECT (\(keys(everything, order: ascending))) AS lo, (\(keys(everything, order: descending))) AS hi
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
            SELECT (\(keys(range, order: ascending))) AS lo,
                   coalesce((\(keys(range, order: ascending, offset: size - 1))), (\(keys(range, order: descending)))) AS hi
            """
    }

    func keyAfter(_ size: Int, from: BatchCursor, in range: BatchRange) throws -> BatchCursor? {
        let condition = self.condition(from: try checked(from), to: .through(try checked(range.last)))
        return try db.query("SELECT (\(keys(condition, order: ascending, offset: size))) AS k").first?.cursor("k")
    }

    func condition(from: BatchCursor, to end: BatchEnd) -> PostgresQuery {
        switch end {
        case .through(let last): return "\(unescaped: row) >= \(tuple(from)) AND \(unescaped: row) <= \(tuple(last))\(scopeClause)"
        case .before(let next): return "\(unescaped: row) >= \(tuple(from)) AND \(unescaped: row) < \(tuple(next))\(scopeClause)"
        }
    }

    func split(_ range: BatchRange, firstPart size: Int) throws -> (end: BatchCursor, next: BatchCursor)? {
        let condition = self.condition(from: try checked(range.first), to: .through(try checked(range.last)))
        let found = try db.query(keys(condition, order: ascending, offset: max(size - 1, 0), limit: 2))
        let keys = try found.map { row in try BatchCursor(JSONValue.parse(try row[0].string())) }
        guard keys.count == 2 else { return nil }
        return (keys[0], keys[1])
    }
}
