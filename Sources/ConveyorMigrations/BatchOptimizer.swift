/// GitLab's batch-size optimizer, as pure functions: efficiency is how much of the
/// interval a batch took; the batch size grows (at most ×1.2) or shrinks to bring it into
/// the target band.
public enum BatchOptimizer {
    public static let targetEfficiency = 0.9...0.95
    public static let minimumBatchSize = 1_000
    public static let maximumBatchSize = 2_000_000
    public static let maximumMultiplier = 1.2
    public static let numberOfJobs = 20
    public static let alpha = 0.4

    /// Exponentially weighted mean of `duration / interval` over the last 20 succeeded
    /// jobs (newest first, weight (1-α)^i), rounded to 2 decimals; nil with fewer jobs or
    /// no interval.
    public static func smoothedEfficiency(durationsNewestFirst durations: [Double], interval: Double, count: Int = numberOfJobs, alpha: Double = alpha) -> Double? {
        guard interval > 0, durations.count >= count else { return nil }
        var weighted = 0.0
        var divisor = 0.0
        for (i, duration) in durations.prefix(count).enumerated() {
            let weight = pow1m(alpha, i)
            weighted += duration / interval * weight
            divisor += weight
        }
        guard divisor > 0 else { return nil }
        return (weighted / divisor * 100).rounded() / 100
    }

    /// The new batch size, or nil when it should stay as it is.
    public static func optimizedBatchSize(current: Int, maxBatchSize: Int?, efficiency: Double?) -> Int? {
        guard let efficiency, efficiency > 0, !targetEfficiency.contains(efficiency) else { return nil }
        let multiplier = min(targetEfficiency.upperBound / efficiency, maximumMultiplier)
        let limit = maxBatchSize ?? maximumBatchSize
        let proposed = Int((Double(current) * multiplier).rounded(.down))
        let clamped = min(max(proposed, min(limit, minimumBatchSize)), limit)
        return clamped == current ? nil : clamped
    }

    private static func pow1m(_ alpha: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= (1 - alpha) }
        return result
    }
}
