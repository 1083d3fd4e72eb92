import ConveyorJSON
import ConveyorPostgres

/// GitLab's `CopyColumnUsingBackgroundMigrationJob`, used for integer→bigint conversions:
/// job arguments `[[from…], [to…]]`; each sub-batch runs `UPDATE … SET to = from` for its
/// key range.
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
        let update: (Int64, Int64) throws -> Int = { first, last in
            try batch.db.query(
                """
                UPDATE \(table: batch.table) SET \(unescaped: assignments)
                WHERE \(identifier: batch.column) BETWEEN \(first) AND \(last)
                """).affectedRows
        }
        if batch.subBatchSize >= Int(clamping: batch.maxValue - batch.minValue + 1) {
            try batch.wholeBatch(update)
        } else {
            try batch.eachSubBatch(update)
        }
    }
}
