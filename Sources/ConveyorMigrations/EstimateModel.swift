/// From sampled batches to the time a whole migration takes, at three paces: run by
/// workers (its interval and the batch-size optimizer), finalized at its own pace (its
/// sub-batches and pauses, batches back to back), and `finalize --downtime`. Pure.
///
/// A batch of `b` keys (rows, or distinct values for a loose index scan) with sub-batches
/// of `s` and pauses of `p` takes `b × (work + lookup) + (⌈b/s⌉ − 1) × p + bookkeeping`,
/// where work and lookup are the sampled seconds per key (lookup: finding the batch's
/// bounds) and bookkeeping is the round trips and commits around a batch. The point
/// estimate uses the mean rate of the samples; the low end the fastest sample less 15%,
/// the high end the slowest plus 25% and twice the bookkeeping (a real run also commits,
/// competes with other traffic, and meets checkpoints and autovacuum).
public enum EstimateModel {
    public static let lowMargin = 0.85
    public static let highMargin = 1.25

    public struct Sample: Sendable, Equatable {
        /// Keys in the batch (batch-size units).
        public var keys: Int
        /// Rows the job changed.
        public var rows: Int
        /// The job's own time, pauses excluded.
        public var seconds: Double
        public var subBatches: Int
        public var slowestSubBatch: Double
        /// Finding the batch's bounds.
        public var lookupSeconds: Double
        public var walBytes: Int64
        /// The same batch as one statement (sub-batch = batch), as `--downtime` runs it.
        public var downtimeSeconds: Double?

        public init(keys: Int, rows: Int, seconds: Double, subBatches: Int = 1, slowestSubBatch: Double = 0, lookupSeconds: Double = 0, walBytes: Int64 = 0, downtimeSeconds: Double? = nil) {
            self.keys = keys
            self.rows = rows
            self.seconds = seconds
            self.subBatches = subBatches
            self.slowestSubBatch = slowestSubBatch
            self.lookupSeconds = lookupSeconds
            self.walBytes = walBytes
            self.downtimeSeconds = downtimeSeconds
        }
    }

    public struct Pace: Sendable, Equatable {
        public var batchSize: Int
        public var subBatchSize: Int
        public var pauseMilliseconds: Int
        public var interval: Int
        public var maxBatchSize: Int?
        public var optimize: Bool

        public init(batchSize: Int, subBatchSize: Int, pauseMilliseconds: Int, interval: Int, maxBatchSize: Int? = nil, optimize: Bool = true) {
            self.batchSize = batchSize
            self.subBatchSize = subBatchSize
            self.pauseMilliseconds = pauseMilliseconds
            self.interval = interval
            self.maxBatchSize = maxBatchSize
            self.optimize = optimize
        }
    }

    /// Seconds around each batch besides its statements: a finalize lane's (create the
    /// job, mark it running, record it: three round trips and three commits) and a
    /// worker's (create it running, record it: two of each).
    public struct Bookkeeping: Sendable, Equatable {
        public var finalize: Double
        public var worker: Double

        public init(roundTrip: Double, commit: Double) {
            finalize = 4 * roundTrip + 3 * commit
            worker = 2 * roundTrip + 2 * commit
        }

        public init(finalize: Double, worker: Double) {
            self.finalize = finalize
            self.worker = worker
        }
    }

    public struct Range: Sendable, Equatable {
        public var seconds: Double
        public var low: Double
        public var high: Double
        public var batches: Int
    }

    /// Seconds per key: (mean, low, high).
    struct Rates {
        var work: (Double, Double, Double)
        var downtime: (Double, Double, Double)
        var lookup: Double
    }

    static func rates(_ samples: [Sample]) -> Rates? {
        let usable = samples.filter { $0.keys > 0 }
        guard !usable.isEmpty else { return nil }
        let keys = Double(usable.reduce(0) { $0 + $1.keys })
        func spread(_ seconds: (Sample) -> Double) -> (Double, Double, Double) {
            let perKey = usable.map { seconds($0) / Double($0.keys) }
            let mean = usable.reduce(0) { $0 + seconds($1) } / keys
            return (mean, (perKey.min() ?? mean) * lowMargin, (perKey.max() ?? mean) * highMargin)
        }
        let work = spread(\.seconds)
        let downtime = usable.allSatisfy { $0.downtimeSeconds != nil } ? spread { $0.downtimeSeconds ?? $0.seconds } : work
        return Rates(work: work, downtime: downtime, lookup: usable.reduce(0) { $0 + $1.lookupSeconds } / keys)
    }

    /// Batches of `size` over `keys`: ⌈keys / size⌉.
    public static func batches(keys: Int64, size: Int) -> Int {
        guard keys > 0, size > 0 else { return 0 }
        return Int((keys + Int64(size) - 1) / Int64(size))
    }

    static func pauses(keys: Int, subBatchSize: Int, pause: Double) -> Double {
        guard pause > 0, subBatchSize > 0 else { return 0 }
        return Double(max(0, (keys + subBatchSize - 1) / subBatchSize - 1)) * pause
    }

    /// `finalize` at the migration's own pace: batches back to back, sizes fixed.
    public static func finalize(keys: Int64, samples: [Sample], pace: Pace, bookkeeping: Bookkeeping) -> Range? {
        guard let rates = rates(samples) else { return nil }
        let count = batches(keys: keys, size: pace.batchSize)
        let pause = Double(pace.pauseMilliseconds) / 1000
        let full = count > 0 ? count - 1 : 0
        let last = Int(keys - Int64(full) * Int64(pace.batchSize))
        let paused = Double(full) * pauses(keys: pace.batchSize, subBatchSize: pace.subBatchSize, pause: pause)
            + pauses(keys: last, subBatchSize: pace.subBatchSize, pause: pause)
        func total(_ work: Double, _ overhead: Double) -> Double {
            Double(keys) * (work + rates.lookup) + paused + Double(count) * overhead
        }
        return Range(
            seconds: total(rates.work.0, bookkeeping.finalize), low: total(rates.work.1, bookkeeping.finalize),
            high: total(rates.work.2, 2 * bookkeeping.finalize), batches: count)
    }

    /// Run by workers: a batch starts when the interval has passed since the previous one
    /// started (or when it ends, if it takes longer), and the optimizer resizes batches
    /// from their durations as GitLab's does.
    public static func workers(keys: Int64, samples: [Sample], pace: Pace, bookkeeping: Bookkeeping) -> Range? {
        guard let rates = rates(samples) else { return nil }
        let pause = Double(pace.pauseMilliseconds) / 1000
        func simulate(_ work: Double, _ overhead: Double) -> (Double, Int) {
            var left = keys, size = pace.batchSize, total = 0.0, count = 0
            var durations: [Double] = []  // newest first
            let interval = Double(pace.interval)
            while left > 0 {
                let batch = Int(min(Int64(size), left))
                let duration = Double(batch) * (work + rates.lookup) + pauses(keys: batch, subBatchSize: min(pace.subBatchSize, size), pause: pause)
                left -= Int64(batch)
                count += 1
                // The last batch ends the migration: no interval after it.
                total += left > 0 ? max(interval, duration + overhead) : duration + overhead
                durations.insert(duration, at: 0)
                if durations.count > BatchOptimizer.numberOfJobs { durations.removeLast() }
                if pace.optimize, interval > 0,
                    let resized = BatchOptimizer.optimizedBatchSize(
                        current: size, maxBatchSize: pace.maxBatchSize,
                        efficiency: BatchOptimizer.smoothedEfficiency(durationsNewestFirst: durations, interval: interval))
                {
                    size = resized
                }
                // Past a million batches the rest goes at the current batch's pace.
                if count >= 1_000_000, left > 0 {
                    let rest = Double(batches(keys: left, size: size))
                    total += rest * max(interval, Double(size) * (work + rates.lookup) + overhead)
                    count += Int(rest)
                    left = 0
                }
            }
            return (total, count)
        }
        let (point, count) = simulate(rates.work.0, bookkeeping.worker)
        return Range(seconds: point, low: simulate(rates.work.1, bookkeeping.worker).0, high: simulate(rates.work.2, 2 * bookkeeping.worker).0, batches: count)
    }

    /// `finalize --downtime`: one statement per batch, no pauses, batches grown by
    /// `DowntimeSizer` from the migration's batch size, `lanes` at once. Lanes share the
    /// server's cores, so the point assumes half a lane's worth per extra lane; the low
    /// end a full one, the high end none.
    public static func downtime(keys: Int64, samples: [Sample], pace: Pace, bookkeeping: Bookkeeping, lanes: Int, statementTimeout: Double?) -> Range? {
        guard let rates = rates(samples) else { return nil }
        func simulate(_ work: Double, _ overhead: Double) -> (Double, Int) {
            var sizer = DowntimeSizer(initial: pace.batchSize, maximum: pace.maxBatchSize.map { max($0, pace.batchSize) }, statementTimeout: statementTimeout)
            var left = keys, total = 0.0, count = 0
            while left > 0 {
                let batch = Int(min(Int64(sizer.size), left))
                let seconds = Double(batch) * work
                total += seconds + Double(batch) * rates.lookup + overhead
                sizer.record(keys: batch, seconds: seconds, succeeded: true)
                left -= Int64(batch)
                count += 1
            }
            return (total, count)
        }
        let lanes = Double(max(1, lanes))
        let (point, count) = simulate(rates.downtime.0, bookkeeping.finalize)
        return Range(
            seconds: point / ((1 + lanes) / 2), low: simulate(rates.downtime.1, bookkeeping.finalize).0 / lanes,
            high: simulate(rates.downtime.2, 2 * bookkeeping.finalize).0, batches: count)
    }

    /// WAL for `keys` keys at the samples' WAL per key.
    public static func walBytes(keys: Int64, samples: [Sample]) -> Int64 {
        let sampledKeys = samples.reduce(0) { $0 + $1.keys }
        guard sampledKeys > 0 else { return 0 }
        let wal = Double(samples.reduce(Int64(0)) { $0 + $1.walBytes })
        return Int64((wal / Double(sampledKeys) * Double(keys)).rounded())
    }

    /// How close the slowest sub-batch came to the sub-batch statement timeout.
    public enum TimeoutRisk: String, Sendable {
        case low, medium, high
    }

    /// high: a sub-batch took half the timeout or more (a busier moment would cancel it);
    /// medium: a fifth or more; low otherwise.
    public static func timeoutRisk(slowestSubBatch: Double, timeout: Double) -> TimeoutRisk {
        guard timeout > 0 else { return .low }
        let share = slowestSubBatch / timeout
        if share >= 0.5 { return .high }
        if share >= 0.2 { return .medium }
        return .low
    }
}
