/// Sidekiq's latency histogram of one job class: 26 buckets whose upper bounds grow by
/// about half each step, from 20 ms to 335 s, then a last bucket for anything slower. A
/// duration counts in the first bucket whose bound it is below, so 19.9 ms is bucket 0 and
/// 20 ms bucket 1; Sidekiq 7.3 and 8.x store the counts as 26 u16 fields of a BITFIELD.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in milliseconds of the first 25 buckets; bucket 25 ("Slow") has none.
    public static let upperBounds: [Double] = [
        20, 30, 45, 65, 100, 150, 225, 335, 500, 750, 1100, 1700, 2500,
        3800, 5750, 8500, 13000, 20000, 30000, 45000, 65000, 100000, 150000, 225000, 335000,
    ]
    public static let bucketCount = 26

    /// Counts per bucket, index 0 (under 20 ms) to 25 (335 s and longer).
    public private(set) var counts: [Int]

    public init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    public init(counts: [Int]) {
        precondition(counts.count == Self.bucketCount, "a Sidekiq histogram has \(Self.bucketCount) buckets")
        self.counts = counts
    }

    /// The bucket a duration falls in.
    public static func bucket(milliseconds: Double) -> Int {
        // Most jobs are fast: the scan usually stops at the first bound.
        var index = 0
        while index < upperBounds.count, !(milliseconds < upperBounds[index]) { index += 1 }
        return index
    }

    public mutating func record(milliseconds: Double) {
        counts[Self.bucket(milliseconds: milliseconds)] += 1
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
    }

    public var total: Int { counts.reduce(0, +) }
    public var isEmpty: Bool { counts.allSatisfy { $0 == 0 } }
}
