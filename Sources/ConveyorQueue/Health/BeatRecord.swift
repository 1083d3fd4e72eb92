import Synchronization

/// The instant of the last successful heartbeat, readable from any thread.
final class BeatRecord: Sendable {
    let created = ContinuousClock.now
    /// Nanoseconds after `created`; -1 before the first beat.
    private let offset = Atomic<Int64>(-1)

    func record() {
        let elapsed = ContinuousClock.now - created
        offset.store(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    var last: ContinuousClock.Instant? {
        let nanos = offset.load(ordering: .relaxed)
        return nanos < 0 ? nil : created + .nanoseconds(nanos)
    }
}
