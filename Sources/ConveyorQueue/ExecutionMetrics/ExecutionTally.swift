/// What a worker ran since the last flush, per job class, in the terms of Sidekiq's
/// execution metrics: `p` executions (successes and failures), `f` failures, and for
/// successful runs only their summed time and latency histogram. The pure value the
/// flusher writes; `record` states the rules that `ThreadCounters` applies per thread.
public struct ExecutionTally: Sendable {
    public struct ClassCounts: Sendable, Equatable {
        /// Executions finished, failed or not (Sidekiq's `p`).
        public var processed = 0
        /// Executions that failed (`f`).
        public var failed = 0
        /// Summed duration of the successful executions, in microseconds (`ms` / 1000).
        public var microseconds = 0
        /// Durations of the successful executions.
        public var histogram = LatencyHistogram()

        public init() {}
        public var succeeded: Int { processed - failed }
    }

    private(set) var names: [String] = []
    private(set) var counts: [ClassCounts] = []
    private var slots: [String: Int] = [:]
    private var lastSlot = -1

    public init() {}

    public var isEmpty: Bool { names.isEmpty }

    /// Every class with its counts, in the order first seen.
    public var classes: [(name: String, counts: ClassCounts)] {
        Array(zip(names, counts)).map { (name: $0.0, counts: $0.1) }
    }

    public subscript(className: String) -> ClassCounts? {
        slots[className].map { counts[$0] }
    }

    public mutating func record(className: String, seconds: Double, failed: Bool) {
        let slot = slot(for: className)
        counts[slot].processed += 1
        if failed {
            counts[slot].failed += 1
        } else {
            let milliseconds = max(seconds, 0) * 1000
            counts[slot].microseconds += Int(milliseconds * 1000 + 0.5)
            counts[slot].histogram.record(milliseconds: milliseconds)
        }
    }

    /// Adds counts of one class.
    public mutating func add(className: String, _ more: ClassCounts) {
        let slot = slot(for: className)
        counts[slot].processed += more.processed
        counts[slot].failed += more.failed
        counts[slot].microseconds += more.microseconds
        counts[slot].histogram.merge(more.histogram)
    }

    /// Adds another tally's counts (a thread's, or one a failed flush hands back).
    public mutating func merge(_ other: ExecutionTally) {
        for (name, theirs) in zip(other.names, other.counts) { add(className: name, theirs) }
    }

    private mutating func slot(for className: String) -> Int {
        if lastSlot >= 0, names[lastSlot] == className { return lastSlot }
        if let existing = slots[className] {
            lastSlot = existing
            return existing
        }
        names.append(className)
        counts.append(ClassCounts())
        lastSlot = names.count - 1
        slots[className] = lastSlot
        return lastSlot
    }
}
