import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A row of `batched_background_migration_jobs`: one batch of a migration.
public struct BatchedJob: Sendable {
    public static let maxAttempts = 3
    /// A job pending or running this long without an update is considered abandoned.
    public static let stuckTimeout: TimeInterval = 3600
    public static let subBatchReduceFactor = 0.75
    /// A sub-batch never shrinks by more than this share (percent) of the migration's.
    public static let subBatchThresholdPercent = 65.0

    public var id: Int64
    public var migrationID: Int64
    public var minValue: Int64
    public var maxValue: Int64
    public var batchSize: Int
    public var subBatchSize: Int
    public var pauseMilliseconds: Int
    public var status: BatchedJobStatus
    public var attempts: Int
    public var metrics: JSONValue
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// A cursor walk's batch: its first and last key (GitLab's `min_cursor`/`max_cursor`).
    public var minCursor: BatchCursor?
    public var maxCursor: BatchCursor?

    static let columns = """
        id, batched_background_migration_id, min_value, max_value, batch_size, sub_batch_size, pause_ms, status,
        attempts, metrics, created_at, updated_at, started_at, finished_at, min_cursor, max_cursor
        """

    init(row: PostgresRow) throws {
        id = try row["id"].int64()
        migrationID = try row["batched_background_migration_id"].int64()
        minValue = try row["min_value"].optionalInt64() ?? 0
        maxValue = try row["max_value"].optionalInt64() ?? 0
        batchSize = try row["batch_size"].int()
        subBatchSize = try row["sub_batch_size"].int()
        pauseMilliseconds = try row["pause_ms"].int()
        let rawStatus = try row["status"].int()
        guard let status = BatchedJobStatus(rawValue: rawStatus) else {
            throw PostgresError(.decoding, "unknown batched job status \(rawStatus)")
        }
        self.status = status
        attempts = try row["attempts"].int()
        metrics = try row["metrics"].json()
        createdAt = try row["created_at"].date()
        updatedAt = try row["updated_at"].date()
        startedAt = try row["started_at"].optionalDate()
        finishedAt = try row["finished_at"].optionalDate()
        minCursor = try BatchCursor.decode(row["min_cursor"])
        maxCursor = try BatchCursor.decode(row["max_cursor"])
    }

    public init(
        id: Int64, migrationID: Int64, minValue: Int64, maxValue: Int64, batchSize: Int, subBatchSize: Int, pauseMilliseconds: Int = 100,
        status: BatchedJobStatus = .pending, attempts: Int = 0, minCursor: BatchCursor? = nil, maxCursor: BatchCursor? = nil
    ) {
        self.id = id
        self.migrationID = migrationID
        self.minValue = minValue
        self.maxValue = maxValue
        self.batchSize = batchSize
        self.subBatchSize = subBatchSize
        self.pauseMilliseconds = pauseMilliseconds
        self.status = status
        self.attempts = attempts
        self.minCursor = minCursor
        self.maxCursor = maxCursor
        metrics = [:]
        createdAt = Date()
        updatedAt = createdAt
    }

    /// Its first and last key: the cursors of a cursor walk's batch, else its values.
    public var range: BatchRange {
        if let minCursor, let maxCursor { return BatchRange(first: minCursor, last: maxCursor) }
        return BatchRange(first: BatchCursor(integer: minValue), last: BatchCursor(integer: maxValue))
    }

    public var duration: TimeInterval? {
        guard let startedAt, let finishedAt else { return nil }
        return finishedAt.timeIntervalSince(startedAt)
    }

    /// Rows the batch covered (measured when it ran; the nominal size before that).
    public var rows: Int { metrics["rows"]?.intValue ?? batchSize }

    // MARK: - GitLab's retry rules, as pure decisions

    public var stillRetryable: Bool { attempts < Self.maxAttempts }

    var withinBatchSizeBoundaries: Bool { batchSize > 1 && batchSize > subBatchSize }

    /// A failed job is retried automatically while it has attempts left.
    public var isRetriable: Bool { status == .failed && stillRetryable }

    /// After a sub-batch timeout with attempts left, the sub-batch may shrink.
    public var canReduceSubBatchSize: Bool { stillRetryable && withinBatchSizeBoundaries }

    /// After the last attempt timed out, the batch is split in two.
    public func canSplit(afterTimeout timedOut: Bool) -> Bool {
        !stillRetryable && timedOut && withinBatchSizeBoundaries
    }

    /// The next sub-batch size (×0.75, never more than 65% below the migration's
    /// original), or nil when it may not shrink further.
    public func reducedSubBatchSize(migrationSubBatchSize original: Int) -> Int? {
        let reduced = Int((Double(subBatchSize) * Self.subBatchReduceFactor).rounded(.down))
        let cut = (Double(original - reduced) / Double(original) * 100 * 100).rounded() / 100
        guard cut <= Self.subBatchThresholdPercent else { return nil }
        return min(max(reduced, 1), batchSize)
    }
}

/// A row of `batched_background_migration_job_transition_logs`.
public struct BatchedJobTransitionLog: Sendable {
    public var id: Int64
    public var jobID: Int64
    public var previousStatus: BatchedJobStatus?
    public var nextStatus: BatchedJobStatus?
    public var exceptionClass: String?
    public var exceptionMessage: String?
    public var createdAt: Date
}
