/// What a worker's execution job does between batches of one migration, as a pure
/// decision (time passed in): run the next batch now, hand over (chain the next execution
/// job, at once or when the interval has elapsed), or stop. Running batches back to back
/// in one job, under one lease, is what makes `--interval 0` as fast as `finalize`: no
/// queue hop, no lease to take again and no scheduler tick between batches.
public enum BatchRunPolicy {
    /// One execution job runs batches for at most this long, then chains the next one, so
    /// a quiet or busy process hands the migration over and other processes get turns.
    public static let slice: Double = 10
    /// Within a run of back-to-back batches, health indicators are evaluated at most this
    /// often (every batch when batches are this far apart anyway).
    public static let healthInterval: Double = 1
    /// A batch may start this much before its interval has fully elapsed (clock jitter).
    public static let intervalTolerance: Double = 0.25

    public enum Decision: Equatable, Sendable {
        case runBatch
        /// Enqueue the next execution job to run at this epoch time (now or later).
        case chain(at: Double)
        case stop
    }

    public struct State: Sendable, Equatable {
        public var status: BatchedMigrationStatus
        public var onHold: Bool
        /// `execute_batched_migrations_on_schedule`.
        public var enabled: Bool
        /// The worker is shutting down.
        public var stopRequested: Bool
        /// False when the session was re-established, which lost its table lease.
        public var leaseHeld: Bool
        public var interval: Double
        /// When the newest batch was created (epoch seconds); nil before the first.
        public var lastBatchCreatedAt: Double?
        public var sliceStarted: Double
        public var now: Double

        public init(
            status: BatchedMigrationStatus, onHold: Bool = false, enabled: Bool = true, stopRequested: Bool = false, leaseHeld: Bool = true,
            interval: Double, lastBatchCreatedAt: Double?, sliceStarted: Double, now: Double
        ) {
            self.status = status
            self.onHold = onHold
            self.enabled = enabled
            self.stopRequested = stopRequested
            self.leaseHeld = leaseHeld
            self.interval = interval
            self.lastBatchCreatedAt = lastBatchCreatedAt
            self.sliceStarted = sliceStarted
            self.now = now
        }
    }

    /// Stops when the worker stops or the migration is not runnable (paused, finalizing,
    /// finished, failed, on hold, switched off): the scheduler starts it again when it is.
    /// Hands over when the lease may have been lost, when the slice is used up, or when the
    /// interval has not elapsed; otherwise runs the next batch.
    public static func next(_ state: State) -> Decision {
        if state.stopRequested || state.status != .active || state.onHold || !state.enabled { return .stop }
        if !state.leaseHeld { return .chain(at: state.now) }
        let due = (state.lastBatchCreatedAt ?? -.infinity) + state.interval
        if due > state.now + intervalTolerance { return .chain(at: due) }
        if state.now - state.sliceStarted >= slice { return .chain(at: state.now) }
        return .runBatch
    }

    /// Whether to evaluate health indicators after a batch.
    public static func checkHealth(lastCheckedAt: Double?, now: Double) -> Bool {
        guard let lastCheckedAt else { return true }
        return now - lastCheckedAt >= healthInterval
    }
}
