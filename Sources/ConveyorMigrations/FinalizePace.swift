/// The pace of one `finalize` run, never stored on the migration: `--pause-ms` and
/// `--sub-batch-size` override the migration's for the batches this run creates (the job
/// rows record what they ran with), and `--downtime` runs at the database's speed — no
/// pauses, one statement per batch (sub-batch = batch), batches sized by `DowntimeSizer`.
public struct FinalizePace: Sendable, Equatable {
    public var pauseMilliseconds: Int?
    public var subBatchSize: Int?
    public var downtime: Bool
    public var targetBatchSeconds: Double
    var sizer: DowntimeSizer?

    public init(pauseMilliseconds: Int? = nil, subBatchSize: Int? = nil, downtime: Bool = false, targetBatchSeconds: Double = DowntimeSizer.defaultTarget) {
        self.pauseMilliseconds = pauseMilliseconds
        self.subBatchSize = subBatchSize
        self.downtime = downtime
        self.targetBatchSeconds = targetBatchSeconds
    }

    /// The migration's own pace.
    public static let own = FinalizePace()

    public var isOwn: Bool { pauseMilliseconds == nil && subBatchSize == nil && !downtime }

    /// Lanes for `--downtime` when `--concurrency` is not given: two when the table holds
    /// at least 16 batches at the migration's batch size (each lane then has work for a
    /// while), one for smaller tables. More lanes than the server has cores only contend.
    public static func downtimeLanes(explicit: Int?, remainingKeys: Int64?, batchSize: Int) -> Int {
        if let explicit { return max(1, explicit) }
        guard let remainingKeys else { return 2 }
        return remainingKeys >= Int64(batchSize) * 16 ? 2 : 1
    }

    /// The migration as this run's batches are created from it.
    public mutating func apply(to migration: BatchedMigration, statementTimeout: Double?) -> BatchedMigration {
        var paced = migration
        if downtime {
            if sizer == nil {
                sizer = DowntimeSizer(initial: migration.batchSize, maximum: migration.maxBatchSize.map { max($0, migration.batchSize) }, target: targetBatchSeconds, statementTimeout: statementTimeout)
            }
            paced.batchSize = sizer!.size
            paced.subBatchSize = paced.batchSize
            paced.pauseMilliseconds = 0
            return paced
        }
        if let pauseMilliseconds { paced.pauseMilliseconds = pauseMilliseconds }
        if let subBatchSize { paced.subBatchSize = min(subBatchSize, paced.batchSize) }
        return paced
    }

    /// A batch of this run finished after `seconds` of work.
    public mutating func record(keys: Int, seconds: Double, succeeded: Bool) {
        sizer?.record(keys: keys, seconds: seconds, succeeded: succeeded)
    }

    /// The batch size the next batch gets under `--downtime` (nil otherwise).
    public var downtimeBatchSize: Int? { sizer?.size }
}
