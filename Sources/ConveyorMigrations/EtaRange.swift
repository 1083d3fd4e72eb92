/// A live ETA with a range, from the recent batches' throughput and the rows left. Pure.
///
/// The rate is the rows of the recent batches over the time they span (wall time, so an
/// interval between batches counts). Its range is the slowest and fastest of that rate and
/// the rates of the older and the newer half of the batches, widened to at least ±10%
/// (±30% with fewer than four batches). The rows left come from one or more estimates —
/// the planner's row count at queue time less the rows migrated, the density of keys seen
/// so far times the keys left, the planner's count past the cursor — the first being the
/// point, the smallest and largest the ends. Then low = fewest rows ÷ fastest rate and
/// high = most rows ÷ slowest rate, so low ≤ ETA ≤ high always.
public enum EtaRange {
    public struct Batch: Sendable, Equatable {
        public var rows: Double
        public var startedAt: Double
        public var finishedAt: Double

        public init(rows: Double, startedAt: Double, finishedAt: Double) {
            self.rows = rows
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public struct Rate: Sendable, Equatable {
        public var rowsPerSecond: Double
        public var low: Double
        public var high: Double
    }

    public struct Eta: Sendable, Equatable {
        public var seconds: Double
        public var low: Double
        public var high: Double
    }

    static func rate(of batches: some Collection<Batch>) -> Double? {
        guard let start = batches.map(\.startedAt).min(), let end = batches.map(\.finishedAt).max(), end > start else { return nil }
        let rows = batches.reduce(0) { $0 + $1.rows }
        return rows > 0 ? rows / (end - start) : nil
    }

    public static func rate(_ batches: [Batch]) -> Rate? {
        guard let overall = rate(of: batches) else { return nil }
        var low = overall, high = overall
        if batches.count >= 4 {
            let ordered = batches.sorted { $0.finishedAt < $1.finishedAt }
            let half = ordered.count / 2
            for part in [ordered[..<half], ordered[half...]] {
                if let r = rate(of: part) {
                    low = min(low, r)
                    high = max(high, r)
                }
            }
            low = min(low, overall * 0.9)
            high = max(high, overall * 1.1)
        } else {
            low = overall * 0.7
            high = overall * 1.3
        }
        return Rate(rowsPerSecond: overall, low: low, high: high)
    }

    /// `rowsLeft`: the point estimate first, then other estimates of the same quantity.
    public static func eta(rowsLeft: [Double], rate: Rate) -> Eta? {
        guard let point = rowsLeft.first, rate.rowsPerSecond > 0, rate.low > 0 else { return nil }
        let candidates = rowsLeft.map { max($0, 0) }
        let seconds = max(point, 0) / rate.rowsPerSecond
        let low = min((candidates.min() ?? 0) / rate.high, seconds)
        let high = max((candidates.max() ?? 0) / rate.low, seconds)
        return Eta(seconds: seconds, low: low, high: high)
    }
}
