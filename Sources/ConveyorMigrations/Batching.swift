/// How a migration walks its table: what one batch is, and where its bounds are kept.
public enum Batching: Sendable, Equatable, CustomStringConvertible {
    /// `batch_size` rows in the order of one integer column; bounds in
    /// `min_value`/`max_value` (GitLab's `PrimaryKeyBatchingStrategy`).
    case integerKey(column: String)
    /// `batch_size` distinct values of an integer column, found by a loose index scan;
    /// bounds in `min_value`/`max_value` (GitLab's `LooseIndexScanBatchingStrategy`).
    case distinctValues(column: String)
    /// `batch_size` rows in the order of a unique tuple of columns of any orderable type,
    /// compared as rows (`(a, b) > ($1, $2)`); bounds in `min_cursor`/`max_cursor`.
    case cursor(columns: [String])

    public var batchClass: BatchClass {
        if case .distinctValues = self { return .looseIndexScan }
        return .primaryKey
    }

    /// The column GitLab's `column_name` names: the first one walked.
    public var column: String {
        switch self {
        case .integerKey(let column), .distinctValues(let column): return column
        case .cursor(let columns): return columns[0]
        }
    }

    public var cursorColumns: [String]? {
        if case .cursor(let columns) = self { return columns }
        return nil
    }

    public var isCursor: Bool { cursorColumns != nil }

    /// Reads it back from a migration row.
    init(batchClassName: String, columnName: String, cursorColumns: [String]?) throws {
        switch try BatchClass(named: batchClassName) {
        case .looseIndexScan: self = .distinctValues(column: columnName)
        case .primaryKey:
            if let cursorColumns, !cursorColumns.isEmpty { self = .cursor(columns: cursorColumns) } else { self = .integerKey(column: columnName) }
        }
    }

    public var description: String {
        switch self {
        case .integerKey(let column): return "\(BatchClass.primaryKey) on \(column)"
        case .distinctValues(let column): return "\(BatchClass.looseIndexScan) on distinct \(column)"
        case .cursor(let columns): return "\(BatchClass.primaryKey) with cursor (\(columns.joined(separator: ", ")))"
        }
    }
}
