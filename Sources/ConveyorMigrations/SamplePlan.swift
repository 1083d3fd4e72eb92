/// Where `migrations estimate` samples a walk, in GitLab's order
/// (`Gitlab::Database::Migrations::TestBatchedBackgroundRunner#uniform_fractions`): the
/// start of the key range, its end, then halves, quarters, eighths… so that however early
/// the time budget stops the sampling, the samples are spread over the whole range. Pure.
public enum SamplePlan {
    /// 0, 1, 1/2, 1/4, 3/4, 1/8, 3/8, 5/8, 7/8, 1/16, … — the first `count` of them.
    public static func fractions(_ count: Int) -> [Double] {
        guard count > 0 else { return [] }
        var result: [Double] = [0]
        if count > 1 { result.append(1) }
        var denominator = 2
        while result.count < count {
            var numerator = 1
            while numerator < denominator && result.count < count {
                result.append(Double(numerator) / Double(denominator))
                numerator += 2
            }
            denominator *= 2
        }
        return result
    }

    /// The integer key a sample at `fraction` starts from: GitLab's `(variance * frac).to_i
    /// + smallest_batch_start`, where the largest start leaves room for one batch of
    /// `span` keys before `last` (never before `first`).
    public static func integerStart(fraction: Double, first: Int64, last: Int64, span: Int64) -> Int64 {
        let largest = max(last - span, first)
        let variance = Double(largest - first)
        return first + Int64((variance * fraction).rounded(.down))
    }

    /// The position (0-based offset in the walk's order) a sample at `fraction` starts at,
    /// for walks whose keys cannot be interpolated (cursors): the same rule over positions.
    public static func offset(fraction: Double, keys: Int64, batchSize: Int) -> Int64 {
        integerStart(fraction: fraction, first: 0, last: max(keys - 1, 0), span: Int64(max(batchSize - 1, 0)))
    }

    /// GitLab's stop rule: sampling ends when the next start falls inside a batch already
    /// sampled (the range is then covered as finely as its batches allow).
    public static func covered(_ start: Double, by sampled: [ClosedRange<Double>]) -> Bool {
        sampled.contains { $0.contains(start) }
    }
}
