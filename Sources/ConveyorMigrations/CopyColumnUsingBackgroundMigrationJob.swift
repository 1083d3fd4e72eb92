import ConveyorJSON
import ConveyorPostgres

/// GitLab's `CopyColumnUsingBackgroundMigrationJob`, used for integer→bigint conversions:
/// job arguments `[[from…], [to…]]`; each sub-batch runs `UPDATE … SET to = from` for its
/// rows, whatever the batching strategy (integer keys, distinct values, a cursor).
public struct CopyColumnUsingBackgroundMigrationJob: BatchedMigrationJob {
    public static let className = "CopyColumnUsingBackgroundMigrationJob"

    public init() {}

    static func columnPairs(_ arguments: JSONValue) throws -> [(String, String)] {
        guard let parts = arguments.arrayValue, parts.count == 2,
            let from = parts[0].arrayValue?.compactMap(\.stringValue), let to = parts[1].arrayValue?.compactMap(\.stringValue),
            from.count == parts[0].arrayValue?.count, to.count == parts[1].arrayValue?.count, !from.isEmpty, from.count == to.count
        else {
            throw MigrationError(
                .invalidArguments,
                "\(className) expects job arguments [[\"from_column\", …], [\"to_column\", …]] with the same number of columns, got \(arguments.serialized())")
        }
        return Array(zip(from, to))
    }

    public static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {
        for (from, to) in try columnPairs(arguments) {
            _ = try db.resolveColumn(from, in: table)
            _ = try db.resolveColumn(to, in: table)
        }
    }

    public func perform(_ batch: BatchedJobContext) throws {
        let pairs = try Self.columnPairs(batch.arguments)
        let assignments = try pairs.map { from, to in
            "\(try batch.db.resolveColumn(to, in: batch.table).quoted) = \(try batch.db.resolveColumn(from, in: batch.table).quoted)"
        }.joined(separator: ", ")
        // The sub-batch's condition selects its rows whatever the strategy: BETWEEN for
        // integer keys and distinct values, row comparisons for cursors.
        let update: (SubBatch) throws -> Int = { subBatch in
            try batch.db.query("UPDATE \(table: batch.table) SET \(unescaped: assignments) WHERE \(subBatch.condition)").affectedRows
        }
        if batch.fitsOneSubBatch {
            try batch.wholeBatch(update)
        } else {
            try batch.eachSubBatch(update)
        }
    }
}
