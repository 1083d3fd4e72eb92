import ConveyorJSON
import ConveyorPostgres
import Logging

/// A non-batched background migration: GitLab's `Gitlab::BackgroundMigration::<Class>`.
/// It runs as a Sidekiq job of class `BackgroundMigrationWorker` in the
/// `background_migration` queue with args `[migration_class, [args…]]`.
public protocol BackgroundMigration: SendableMetatype {
    /// The name used in the job's first argument.
    static var className: String { get }
    /// Where `enqueue-range` puts the `[start_id, end_id]` of each batch: first (GitLab's
    /// default) or last (`CopyColumn`'s `[table, from, to, start_id, end_id]`).
    static var rangeArgumentsFirst: Bool { get }
    init()
    func perform(arguments: [JSONValue], context: BackgroundMigrationContext) throws
}

extension BackgroundMigration {
    public static var rangeArgumentsFirst: Bool { true }
}

public struct BackgroundMigrationContext {
    public let db: PostgresConnection
    public let logger: Logger

    public init(db: PostgresConnection, logger: Logger) {
        self.db = db
        self.logger = logger
    }
}

/// Non-batched migrations by class name.
public struct BackgroundMigrationRegistry: Sendable {
    public typealias Entry = (perform: @Sendable ([JSONValue], BackgroundMigrationContext) throws -> Void, rangeFirst: Bool)
    private var entries: [String: Entry] = [:]

    public init() {}

    /// The built-in `CopyColumn`.
    public static var builtIn: BackgroundMigrationRegistry {
        var registry = BackgroundMigrationRegistry()
        registry.register(CopyColumn.self)
        return registry
    }

    public mutating func register<M: BackgroundMigration>(_ type: M.Type) {
        entries[M.className] = ({ arguments, context in try M().perform(arguments: arguments, context: context) }, M.rangeArgumentsFirst)
    }

    public func entry(_ className: String) -> Entry? {
        // GitLab also accepts the fully qualified name.
        entries[className] ?? entries[String(className.split(separator: ":").last ?? "")]
    }

    public var classNames: [String] { entries.keys.sorted() }
}

/// `CopyColumn [table, from_column, to_column, start_id, end_id]`: sets `to = from` for
/// rows whose primary key is in the range. Names are checked against the catalog.
public struct CopyColumn: BackgroundMigration {
    public static let className = "CopyColumn"
    public static let rangeArgumentsFirst = false
    public init() {}

    public func perform(arguments: [JSONValue], context: BackgroundMigrationContext) throws {
        guard arguments.count == 5, let table = arguments[0].stringValue, let from = arguments[1].stringValue,
            let to = arguments[2].stringValue, let start = arguments[3].int64Value, let end = arguments[4].int64Value
        else {
            throw MigrationError(.invalidArguments, "CopyColumn expects [table, from_column, to_column, start_id, end_id], got \(JSONValue.array(arguments))")
        }
        let db = context.db
        let resolved = try db.resolveTable(table)
        let fromColumn = try db.resolveColumn(from, in: resolved)
        let toColumn = try db.resolveColumn(to, in: resolved)
        let key = try db.primaryKeyColumn(of: resolved)
        try db.query(
            """
            UPDATE \(table: resolved) SET \(identifier: toColumn) = \(identifier: fromColumn)
            WHERE \(identifier: key) BETWEEN \(start) AND \(end)
            """)
    }
}

extension PostgresConnection {
    /// The single-column primary key of a table (falls back to `id`).
    public func primaryKeyColumn(of table: QualifiedTableName) throws -> SQLIdentifier {
        let rows = try query(
            """
            SELECT a.attname AS name FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = to_regclass(\(table.quoted)) AND i.indisprimary
            """)
        if rows.count == 1 { return try SQLIdentifier(rows[0]["name"].string()) }
        return try resolveColumn("id", in: table)
    }
}
