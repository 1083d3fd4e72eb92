import ConveyorJSON
import ConveyorPostgres

/// The SQL of one batching strategy over one table: finding batches, sub-batches and split
/// points by walking an index, and the condition that selects a range's rows. Every walk
/// applies the job's scope (GitLab's `scope_to`) to what it counts. Values are binds.
protocol BatchWalk {
    var db: PostgresConnection { get }
    var table: QualifiedTableName { get }
    var scope: PostgresQuery? { get }

    /// The first and last key in the table (in scope), or nil when there is none.
    func bounds() throws -> BatchRange?
    /// The query finding the next batch of `size` keys from `start`, never beyond
    /// `limit`: one row, `lo` and `hi` as text (a bigint, or a cursor's JSON array), both
    /// NULL when no key is left; nil when `start` is already past `limit`.
    func nextBatchQuery(from start: BatchStart, size: Int, limit: BatchCursor) throws -> PostgresQuery?
    /// The first key after the `size` keys that start at `from` inside `range`; nil when
    /// fewer are left (the sub-batch then runs to the end of the range).
    func keyAfter(_ size: Int, from: BatchCursor, in range: BatchRange) throws -> BatchCursor?
    /// The rows from `from` to `end`, in scope.
    func condition(from: BatchCursor, to end: BatchEnd) -> PostgresQuery
    /// Where to split `range` so that its first part holds `size` keys: the first part's
    /// last key and the second part's first; nil when the range holds no more than that.
    func split(_ range: BatchRange, firstPart size: Int) throws -> (end: BatchCursor, next: BatchCursor)?
}

extension BatchWalk {
    /// The next batch of `size` keys from `start`, never beyond `limit`.
    func nextBatch(from start: BatchStart, size: Int, limit: BatchCursor) throws -> BatchRange? {
        guard let query = try nextBatchQuery(from: start, size: size, limit: limit), let row = try db.query(query).first,
            let lo = try BatchCursor.decode(text: row["lo"].optionalString()), let hi = try BatchCursor.decode(text: row["hi"].optionalString())
        else { return nil }
        return BatchRange(first: lo, last: hi)
    }

    /// ` AND (scope)`, or nothing.
    var scopeClause: PostgresQuery {
        guard let scope else { return "" }
        return " AND (\(scope))"
    }

    /// The planner's estimate of the rows in `range` (the whole table when nil) and in
    /// scope: what progress and ETA are measured against when keys are not integers.
    func estimatedRows(in range: BatchRange?) throws -> Int64? {
        let condition: PostgresQuery = range.map { self.condition(from: $0.first, to: .through($0.last)) } ?? "true\(scopeClause)"
        let plan = try db.query("EXPLAIN (FORMAT JSON) SELECT 1 FROM \(table: table) WHERE \(condition)").first?[0].json()
        guard let rows = plan?[0]?["Plan"]?["Plan Rows"]?.doubleValue else { return nil }
        return Int64(rows.rounded())
    }
}

/// A tuple of `$n` binds, `($1, $2)`, for a cursor's values.
func tuple(_ cursor: BatchCursor) -> PostgresQuery {
    let binds = cursor.binds
    return PostgresQuery(unsafeSQL: "(" + (1...binds.count).map { "$\($0)" }.joined(separator: ", ") + ")", binds: binds)
}

extension PostgresRow {
    /// A `jsonb_build_array(...)::text` column as a cursor.
    func cursor(_ column: String) throws -> BatchCursor? {
        guard let text = try self[column].optionalString() else { return nil }
        return try BatchCursor(JSONValue.parse(text))
    }
}
