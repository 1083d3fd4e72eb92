import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres
import Logging

/// A batched migration job: what runs for each batch (GitLab's `BatchedMigrationJob`
/// subclasses). Use `context.eachSubBatch` to work through the batch in sub-batches, each
/// under the sub-batch statement timeout and with `pause_ms` between them.
///
///     struct BackfillNames: BatchedMigrationJob {
///         static let className = "BackfillNames"
///         init() {}
///         func perform(_ batch: BatchedJobContext) throws {
///             try batch.eachSubBatch { from, to in
///                 try batch.db.query("UPDATE \(table: batch.table) SET name = lower(name) WHERE \(identifier: batch.column) BETWEEN \(from) AND \(to)")
///             }
///         }
///     }
public protocol BatchedMigrationJob: SendableMetatype {
    static var className: String { get }
    init()
    func perform(_ batch: BatchedJobContext) throws
    /// Checks job arguments when the migration is queued (default: accepts anything).
    static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws
}

extension BatchedMigrationJob {
    public static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {}
}

/// Thrown by `eachSubBatch` when a sub-batch statement timed out: the runner then
/// shrinks the sub-batch (and later splits the batch), as GitLab does.
public struct SubBatchTimeout: Error, CustomStringConvertible {
    public let underlying: PostgresError
    public var description: String { underlying.description }
}

/// One batch as the job sees it.
public final class BatchedJobContext {
    public let db: PostgresConnection
    public let table: QualifiedTableName
    public let column: SQLIdentifier
    public let minValue: Int64
    public let maxValue: Int64
    public let subBatchSize: Int
    public let pauseMilliseconds: Int
    public let arguments: JSONValue
    public let logger: Logger
    let statementTimeout: Duration
    /// Timings of each sub-batch, stored in the job's `metrics`.
    public private(set) var timings: [Double] = []
    public private(set) var rowsTouched = 0

    init(db: PostgresConnection, table: QualifiedTableName, column: SQLIdentifier, job: BatchedJob, arguments: JSONValue, statementTimeout: Duration, logger: Logger) {
        self.db = db
        self.table = table
        self.column = column
        minValue = job.minValue
        maxValue = job.maxValue
        subBatchSize = job.subBatchSize
        pauseMilliseconds = job.pauseMilliseconds
        self.arguments = arguments
        self.statementTimeout = statementTimeout
        self.logger = logger
    }

    /// Calls `body(first, last)` for consecutive key ranges holding `sub_batch_size` rows
    /// each. `body` returns the number of rows it changed (for metrics).
    public func eachSubBatch(_ body: (Int64, Int64) throws -> Int) throws {
        var start: Int64? = minValue
        var first = true
        while let from = start {
            if !first, pauseMilliseconds > 0 { blockingSleep(.milliseconds(pauseMilliseconds)) }
            first = false
            let began = ContinuousClock.now
            do {
                try db.withStatementTimeout(statementTimeout) {  // set once per batch by the executor
                    // The key where the next sub-batch starts; none means this is the last.
                    let next = try db.query(
                        """
                        SELECT \(identifier: column)::bigint AS k FROM \(table: table)
                        WHERE \(identifier: column) >= \(from) AND \(identifier: column) <= \(maxValue)
                        ORDER BY \(identifier: column) OFFSET \(subBatchSize) LIMIT 1
                        """).first?["k"].optionalInt64()
                    let to = next.map { $0 - 1 } ?? maxValue
                    rowsTouched += try body(from, to)
                    start = next
                }
            } catch let error as PostgresError where error.isTimeout {
                throw SubBatchTimeout(underlying: error)
            }
            timings.append((ContinuousClock.now - began).seconds)
        }
    }

    /// The whole batch in one statement (sub-batch size ≥ batch size), still under the
    /// sub-batch timeout.
    public func wholeBatch(_ body: (Int64, Int64) throws -> Int) throws {
        let began = ContinuousClock.now
        do {
            try db.withStatementTimeout(statementTimeout) { rowsTouched += try body(minValue, maxValue) }
        } catch let error as PostgresError where error.isTimeout {
            throw SubBatchTimeout(underlying: error)
        }
        timings.append((ContinuousClock.now - began).seconds)
    }
}

/// Batched migration jobs by class name.
public struct BatchedJobRegistry: Sendable {
    public struct Entry: Sendable {
        let perform: @Sendable (BatchedJobContext) throws -> Void
        let validate: @Sendable (JSONValue, QualifiedTableName, PostgresConnection) throws -> Void
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
            validate: { arguments, table, db in try J.validate(arguments: arguments, table: table, db: db) })
    }

    public func entry(_ className: String) -> Entry? { entries[className] }

    public var classNames: [String] { entries.keys.sorted() }
}
