import Synchronization

/// One processor thread's running totals per job class, in Sidekiq's terms (executions,
/// failures, microseconds and 26 histogram buckets of successful runs).
///
/// The per-job cost of Sidekiq metrics is this type's `record`, so it takes no lock and no
/// locked instruction: only the owning thread writes the counters, with plain atomic loads
/// and stores, and they only grow. The flushing thread reads them and takes the difference
/// from what it read the time before. A class seen for the first time takes a slot (a lock,
/// once per class and thread); a thread usually runs one class many times in a row, so the
/// last class is compared before any hashing.
///
/// Thread-safety: `record` is called only by the owning thread (the recorder hands each
/// thread its own instance); `collect` by one flushing thread at a time. What both touch is
/// atomic or under `shared`'s lock.
final class ThreadCounters: @unchecked Sendable {
    typealias Slot = UnsafeMutablePointer<Atomic<Int>>

    /// Per slot: processed, failed, microseconds, then the histogram's buckets.
    static let fieldCount = 3 + LatencyHistogram.bucketCount
    static let slotsPerChunk = 8

    // The owning thread's alone.
    private var lastName = ""
    private var lastSlot: Slot?
    private var slotsByName: [String: Slot] = [:]
    private var nextFree: Slot?
    private var freeInChunk = 0

    /// Pointers to the counters; they are only dereferenced atomically.
    private struct Shared: @unchecked Sendable {
        var names: [String] = []
        var slots: [Slot] = []
        var chunks: [Slot] = []
        /// What `collect` read last, per slot and field.
        var seen: [Int] = []
    }
    private let shared = Mutex(Shared())

    deinit {
        shared.withLock { shared in
            for chunk in shared.chunks {
                chunk.deinitialize(count: Self.fieldCount * Self.slotsPerChunk)
                chunk.deallocate()
            }
        }
    }

    func record(className: String, seconds: Double, failed: Bool) {
        let slot: Slot
        if let lastSlot, className == lastName { slot = lastSlot } else { slot = self.slot(for: className) }
        if failed {
            Self.add(1, to: slot + 1)
        } else {
            let milliseconds = max(seconds, 0) * 1000
            Self.add(Int(milliseconds * 1000 + 0.5), to: slot + 2)  // ≥ 0: adding ½ rounds, without libm
            Self.add(1, to: slot + 3 + LatencyHistogram.bucket(milliseconds: milliseconds))
        }
        // Last and releasing: whoever sees this job counted also sees its other fields.
        slot.pointee.store(slot.pointee.load(ordering: .relaxed) &+ 1, ordering: .releasing)
    }

    /// Only the owner writes, so load-then-store is a safe increment without a locked
    /// read-modify-write instruction.
    @inline(__always)
    private static func add(_ value: Int, to field: Slot) {
        field.pointee.store(field.pointee.load(ordering: .relaxed) &+ value, ordering: .relaxed)
    }

    private func slot(for className: String) -> Slot {
        if let existing = slotsByName[className] {
            (lastName, lastSlot) = (className, existing)
            return existing
        }
        if freeInChunk == 0 {
            let count = Self.fieldCount * Self.slotsPerChunk
            let chunk = Slot.allocate(capacity: count)
            for index in 0..<count { (chunk + index).initialize(to: Atomic(0)) }
            shared.withLock { $0.chunks.append(chunk) }
            (nextFree, freeInChunk) = (chunk, Self.slotsPerChunk)
        }
        let slot = nextFree!
        nextFree = slot + Self.fieldCount
        freeInChunk -= 1
        shared.withLock { shared in
            shared.names.append(className)
            shared.slots.append(slot)
            shared.seen.append(contentsOf: repeatElement(0, count: Self.fieldCount))
        }
        slotsByName[className] = slot
        (lastName, lastSlot) = (className, slot)
        return slot
    }

    /// Adds to `tally` what was recorded since the last call.
    func collect(into tally: inout ExecutionTally) {
        shared.withLock { shared in
            for (index, name) in shared.names.enumerated() {
                let slot = shared.slots[index], seen = index * Self.fieldCount
                func take(_ field: Int) -> Int {
                    let now = (slot + field).pointee.load(ordering: .acquiring)
                    defer { shared.seen[seen + field] = now }
                    return now - shared.seen[seen + field]
                }
                var counts = ExecutionTally.ClassCounts()
                // `processed` first: every job it counts has its other fields visible.
                counts.processed = take(0)
                counts.failed = take(1)
                counts.microseconds = take(2)
                counts.histogram = LatencyHistogram(counts: (0..<LatencyHistogram.bucketCount).map { take(3 + $0) })
                if counts != ExecutionTally.ClassCounts() { tally.add(className: name, counts) }
            }
        }
    }
}
