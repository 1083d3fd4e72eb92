import ConveyorPlatform
import ConveyorJSON
import ConveyorPostgres

/// A batched migration job: what runs for each batch (GitLab's `BatchedMigrationJob`
/// subclasses). Use `batch.eachSubBatch` to work through the batch in sub-batches, each
/// under the sub-batch statement timeout and with `pause_ms` between them; a sub-batch's
/// `condition` selects its rows whatever the batching strategy, scope included.
///
///     struct BackfillNames: BatchedMigrationJob {
///         static let className = "BackfillNames"
///         init() {}
///         func perform(_ batch: BatchedJobContext) throws {
///             try batch.eachSubBatch { subBatch in
///                 try batch.db.query("UPDATE \(table: batch.table) SET name = lower(name) WHERE \(subBatch.condition)").affectedRows
///             }
///         }
///     }
public protocol BatchedMigrationJob: SendableMetatype {
    static var className: String { get }
    /// The columns the job walks, in order (GitLab's `cursor :partition_id, :id`): its
    /// migrations batch by this cursor, which needs a unique index on exactly these columns.
    /// nil (the default): the migration's column, or `--cursor` when queued.
    static var cursor: [String]? { get }
    /// False for a job that cannot run inside a transaction (it commits itself, or runs
    /// `CREATE INDEX CONCURRENTLY`, `VACUUM`…): `migrations estimate`, which samples a job in
    /// a transaction it rolls back, then refuses it. Default true.
    static var runsInTransaction: Bool { get }
    init()
    func perform(_ batch: BatchedJobContext) throws
    /// Checks job arguments when the migration is queued (default: accepts anything).
    static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws
    /// The rows the job is about (GitLab's `scope_to`): a condition on the table, built with
    /// binds and `\(identifier:)`s resolved against the catalog. It narrows batch bounds,
    /// sub-batches and the row estimate alike. Checked against the table when queued.
    static func scope(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws -> PostgresQuery?
}

extension BatchedMigrationJob {
    public static var cursor: [String]? { nil }
    public static var runsInTransaction: Bool { true }
    public static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {}
    public static func scope(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws -> PostgresQuery? { nil }
}

/// Thrown by `eachSubBatch` when a sub-batch statement timed out: the runner then
/// shrinks the sub-batch (and later splits the batch), as GitLab does.
public struct SubBatchTimeout: Error, CustomStringConvertible {
    public let underlying: PostgresError
    public var description: String { underlying.description }
}
