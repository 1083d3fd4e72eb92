import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres
import Logging

/// One sub-batch: a range of the batch's keys and the condition that selects its rows
/// (range and scope), for the job's statement: `UPDATE … WHERE \(subBatch.condition)`.
public struct SubBatch: Sendable {
    public let condition: PostgresQuery
    public let first: BatchCursor
    public let end: BatchEnd
}

/// One batch as the job sees it.
public final class BatchedJobContext {
    public let db: PostgresConnection
    public let table: QualifiedTableName
    /// The batching column (GitLab's `batch_column`): a cursor's first column.
    public let column: SQLIdentifier
    public let batching: Batching
    /// The batch's first and last key (for integer walks, one-value cursors).
    public let range: BatchRange
    /// Integer walks: the batch's first and last value (GitLab's `start_id`/`end_id`); 0
    /// for cursor walks, whose bounds are `range`.
    public let minValue: Int64
    public let maxValue: Int64
    public let batchSize: Int
    public let subBatchSize: Int
    public let pauseMilliseconds: Int
    public let arguments: JSONValue
    /// The job's scope (GitLab's `scope_to`); already part of every `SubBatch.condition`.
    public let scope: PostgresQuery?
    public let logger: Logger
    let walk: any BatchWalk
    let statementTimeout: Duration
    /// Timings of each sub-batch, stored in the job's `metrics`.
    public private(set) var timings: [Double] = []
    public private(set) var rowsTouched = 0
    /// True once the worker is shutting down: the batch stops between two sub-batches
    /// (`WorkerShutdown`) and the interruption does not count as an attempt.
    var stopRequested: () -> Bool = { false }

    init(db: PostgresConnection, walk: any BatchWalk, batching: Batching, column: SQLIdentifier, job: BatchedJob, arguments: JSONValue, statementTimeout: Duration, logger: Logger) {
        self.db = db
        self.walk = walk
        self.batching = batching
        table = walk.table
        scope = walk.scope
        self.column = column
        range = job.range
        minValue = batching.isCursor ? 0 : job.minValue
        maxValue = batching.isCursor ? 0 : job.maxValue
        batchSize = job.batchSize
        subBatchSize = job.subBatchSize
        pauseMilliseconds = job.pauseMilliseconds
        self.arguments = arguments
        self.statementTimeout = statementTimeout
        self.logger = logger
    }

    /// The whole batch's rows (range and scope).
    public var condition: PostgresQuery { walk.condition(from: range.first, to: .through(range.last)) }

    /// True when one sub-batch covers the batch, so no sub-batch boundary is looked up.
    var fitsOneSubBatch: Bool {
        if case .integerKey = batching { return Int64(subBatchSize) >= maxValue - minValue + 1 }
        return subBatchSize >= batchSize
    }

    /// Calls `body` for consecutive sub-batches of `sub_batch_size` keys each (rows for
    /// row walks, distinct values for `LooseIndexScanBatchingStrategy`), in scope.
    /// `body` returns the number of rows it changed (for metrics and progress).
    public func eachSubBatch(_ body: (SubBatch) throws -> Int) throws {
        var start: BatchCursor? = range.first
        var first = true
        while let from = start {
            if !first {
                if stopRequested() { throw WorkerShutdown() }
                if pauseMilliseconds > 0 { blockingSleep(.milliseconds(pauseMilliseconds)) }
                if stopRequested() { throw WorkerShutdown() }
            }
            let single = first && fitsOneSubBatch
            first = false
            let began = ContinuousClock.now
            do {
                try db.withStatementTimeout(statementTimeout) {  // set once per batch by the executor
                    // The key where the next sub-batch starts; none means this is the last.
                    let next = single ? nil : try walk.keyAfter(subBatchSize, from: from, in: range)
                    let end: BatchEnd = next.map { .before($0) } ?? .through(range.last)
                    rowsTouched += try body(SubBatch(condition: walk.condition(from: from, to: end), first: from, end: end))
                    start = next
                }
            } catch let error as PostgresError where error.isTimeout {
                throw SubBatchTimeout(underlying: error)
            }
            timings.append((ContinuousClock.now - began).seconds)
        }
    }

    /// The same with integer bounds, `body(first, last)` (both included), for jobs that
    /// write `BETWEEN first AND last` themselves. Integer walks only; add `scope` to the
    /// statement yourself if the job has one.
    public func eachSubBatch(_ body: (Int64, Int64) throws -> Int) throws {
        guard !batching.isCursor else { throw cursorMismatch }
        try eachSubBatch { (subBatch: SubBatch) in
            let last: Int64
            switch subBatch.end {
            case .through(let key): last = key.integer ?? maxValue
            case .before(let key): last = (key.integer ?? maxValue + 1) - 1
            }
            return try body(subBatch.first.integer ?? minValue, last)
        }
    }

    /// The whole batch in one statement (sub-batch size ≥ batch size), still under the
    /// sub-batch timeout.
    public func wholeBatch(_ body: (SubBatch) throws -> Int) throws {
        let began = ContinuousClock.now
        do {
            try db.withStatementTimeout(statementTimeout) {
                rowsTouched += try body(SubBatch(condition: condition, first: range.first, end: .through(range.last)))
            }
        } catch let error as PostgresError where error.isTimeout {
            throw SubBatchTimeout(underlying: error)
        }
        timings.append((ContinuousClock.now - began).seconds)
    }

    /// `wholeBatch` with integer bounds (integer walks only).
    public func wholeBatch(_ body: (Int64, Int64) throws -> Int) throws {
        guard !batching.isCursor else { throw cursorMismatch }
        try wholeBatch { (_: SubBatch) in try body(minValue, maxValue) }
    }

    var cursorMismatch: MigrationError {
        MigrationError(
            .invalidArguments,
            "this migration batches by a cursor (\(batching.cursorColumns?.joined(separator: ", ") ?? "")), which has no integer bounds: use eachSubBatch { subBatch in … WHERE \\(subBatch.condition) }")
    }
}

/// A batch stopped between two sub-batches because its worker is shutting down (GitLab's
/// `Sidekiq::Shutdown`): the job goes back to pending and the attempt is not counted.
public struct WorkerShutdown: Error, CustomStringConvertible {
    public var description: String { "the worker is shutting down; the batch will run again" }
}
