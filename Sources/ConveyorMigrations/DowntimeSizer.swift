/// How `finalize --downtime` sizes its batches: at the database's speed, aiming each batch
/// at `target` seconds of work. After every batch the size becomes the measured rate (keys
/// per second over the last three batches) times the target, growing at most ×4 and
/// shrinking at most ÷2 per step (halved after a failure), within `1...maximum`. GitLab's
/// optimizer grows by ×1.2 at most after 20 batches, aiming at a share of an interval
/// that a downtime run does not have; this one reaches its size in a few batches. Pure.
public struct DowntimeSizer: Sendable, Equatable {
    /// The batch time aimed at: long enough that a batch's bookkeeping (a few round trips
    /// and commits) is about 1% of it, short enough that lanes finish close together.
    public static let defaultTarget = 0.25
    public static let maximumGrowth = 4
    public static let window = 3

    public var target: Double
    public var maximum: Int
    public private(set) var size: Int
    var recent: [(keys: Int, seconds: Double)] = []

    /// `timeout`: the sub-batch statement timeout; a batch is one statement here, so the
    /// target never exceeds a quarter of it.
    public init(initial: Int, maximum: Int? = nil, target: Double = defaultTarget, statementTimeout: Double? = nil) {
        self.maximum = max(1, maximum ?? BatchOptimizer.maximumBatchSize)
        var target = target
        if let statementTimeout, statementTimeout > 0 { target = min(target, statementTimeout / 4) }
        self.target = target
        size = min(max(1, initial), self.maximum)
    }

    public mutating func record(keys: Int, seconds: Double, succeeded: Bool) {
        guard succeeded else {
            size = max(1, size / 2)
            recent.removeAll()
            return
        }
        guard keys > 0, seconds > 0 else { return }
        recent.append((keys, seconds))
        if recent.count > Self.window { recent.removeFirst(recent.count - Self.window) }
        let rate = Double(recent.reduce(0) { $0 + $1.keys }) / recent.reduce(0) { $0 + $1.seconds }
        let wanted = Int((rate * target).rounded(.down))
        let bounded = min(max(wanted, max(1, size / 2)), size * Self.maximumGrowth)
        size = min(max(1, bounded), maximum)
    }

    public static func == (a: DowntimeSizer, b: DowntimeSizer) -> Bool {
        a.target == b.target && a.maximum == b.maximum && a.size == b.size && a.recent.count == b.recent.count
    }
}
