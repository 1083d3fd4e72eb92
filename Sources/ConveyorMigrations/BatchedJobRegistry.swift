import ConveyorJSON
import ConveyorPostgres

/// Batched migration jobs by class name.
public struct BatchedJobRegistry: Sendable {
    public struct Entry: Sendable {
        let perform: @Sendable (BatchedJobContext) throws -> Void
        let validate: @Sendable (JSONValue, QualifiedTableName, PostgresConnection) throws -> Void
        let scope: @Sendable (JSONValue, QualifiedTableName, PostgresConnection) throws -> PostgresQuery?
        let cursor: [String]?
        /// `BatchedMigrationJob.runsInTransaction`.
        var transactional = true
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// `CopyColumnUsingBackgroundMigrationJob`.
    public static var builtIn: BatchedJobRegistry {
        var registry = BatchedJobRegistry()
        registry.register(CopyColumnUsingBackgroundMigrationJob.self)
        return registry
    }

    public mutating func register<J: BatchedMigrationJob>(_ type: J.Type) {
        entries[J.className] = Entry(
            perform: { context in try J().perform(context) },
            validate: { arguments, table, db in try J.validate(arguments: arguments, table: table, db: db) },
            scope: { arguments, table, db in try J.scope(arguments: arguments, table: table, db: db) },
            cursor: J.cursor, transactional: J.runsInTransaction)
    }

    public func entry(_ className: String) -> Entry? { entries[className] }

    public var classNames: [String] { entries.keys.sorted() }
}
