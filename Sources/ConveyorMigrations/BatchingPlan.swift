/// Chooses how a migration batches its table from what was asked (`COLUMN`, `--cursor`,
/// `--batch-class`, the job class's own cursor) and what the catalog says, or says in one
/// line why it cannot. Pure: the catalog arrives as `TableFacts`.
public enum BatchingPlan {
    public struct Request: Sendable, Equatable {
        public var column: String
        /// `--cursor COL[,COL…]`.
        public var cursor: [String]?
        public var batchClass: BatchClass
        public var jobClassName: String
        /// The cursor the job class declares (GitLab's `cursor :a, :b`).
        public var jobCursor: [String]?

        public init(column: String, cursor: [String]? = nil, batchClass: BatchClass = .primaryKey, jobClassName: String = "", jobCursor: [String]? = nil) {
            self.column = column
            self.cursor = cursor
            self.batchClass = batchClass
            self.jobClassName = jobClassName
            self.jobCursor = jobCursor
        }
    }

    public static func choose(_ request: Request, facts: TableFacts) -> Result<Batching, MigrationError> {
        do {
            return .success(try decide(request, facts))
        } catch let error as MigrationError {
            return .failure(error)
        } catch {
            return .failure(MigrationError(.invalidArguments, "\(error)"))
        }
    }

    static func refuse(_ message: String) -> MigrationError { MigrationError(.invalidArguments, message) }

    static func decide(_ request: Request, _ facts: TableFacts) throws -> Batching {
        guard let column = facts.column(request.column) else {
            throw refuse("column '\(request.column)' does not exist in table '\(facts.table)'")
        }
        var cursor = request.cursor
        if let declared = request.jobCursor, !declared.isEmpty {
            if let asked = cursor, asked != declared {
                throw refuse("\(request.jobClassName) walks the cursor (\(declared.joined(separator: ", "))); --cursor \(asked.joined(separator: ",")) differs (leave --cursor out)")
            }
            cursor = declared
        }
        switch request.batchClass {
        case .looseIndexScan:
            if cursor != nil {
                throw refuse("\(BatchClass.looseIndexScan) walks the distinct values of one column; it takes no cursor (drop --cursor)")
            }
            guard column.isInteger else {
                throw refuse("\(BatchClass.looseIndexScan) walks integer columns; '\(column.name)' is \(column.type)")
            }
            guard facts.indexes.contains(where: { $0.isUsable && $0.columns.first == column.name }) else {
                throw refuse("\(BatchClass.looseIndexScan) needs a btree index whose first column is '\(column.name)' on '\(facts.table)': the loose index scan skips from value to value over it (without one, every step would read the table)")
            }
            return .distinctValues(column: column.name)
        case .primaryKey:
            if let cursor { return try cursorBatching(cursor, request: request, facts: facts) }
            if column.isInteger { return .integerKey(column: column.name) }
            // A key that is not an integer (uuid, text, timestamptz) is walked as a one-column cursor.
            do {
                return try cursorBatching([column.name], request: request, facts: facts)
            } catch let error as MigrationError {
                throw refuse("column '\(column.name)' is \(column.type), not an integer, so it is walked as a cursor, and \(error.message)")
            }
        }
    }

    static func cursorBatching(_ cursor: [String], request: Request, facts: TableFacts) throws -> Batching {
        guard !cursor.isEmpty else { throw refuse("--cursor needs at least one column") }
        if let duplicate = cursor.first(where: { name in cursor.filter { $0 == name }.count > 1 }) {
            throw refuse("--cursor names '\(duplicate)' twice")
        }
        for name in cursor where facts.column(name) == nil {
            throw refuse("cursor column '\(name)' does not exist in table '\(facts.table)'")
        }
        guard cursor[0] == request.column else {
            throw refuse("COLUMN must be the cursor's first column: the cursor is (\(cursor.joined(separator: ", "))), so give '\(cursor[0])' as COLUMN, not '\(request.column)'")
        }
        let listed = "(" + cursor.joined(separator: ", ") + ")"
        if let nullable = cursor.first(where: { facts.column($0)?.notNull == false }) {
            throw refuse("cursor column '\(nullable)' can be NULL: rows with NULL in a cursor column compare as unknown and would never be migrated (make it NOT NULL or choose another cursor)")
        }
        let backed = facts.indexes.contains { $0.isUsable && $0.isUnique && $0.columns == cursor.map { Optional($0) } }
        guard backed else {
            let unique = facts.indexes.filter { $0.isUnique && $0.isUsable }.map { "\($0.name) \($0.describedColumns)" }
            throw refuse(
                "cursor \(listed) is not backed by a unique index or primary key on exactly those columns in that order: rows whose cursor values tie could be skipped or migrated twice, and the walk needs the index to find its batches (unique indexes on '\(facts.table)': \(unique.isEmpty ? "none" : unique.joined(separator: ", ")))")
        }
        return .cursor(columns: cursor)
    }
}
