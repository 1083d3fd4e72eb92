import Synchronization

/// The time a worker schedules by: this machine's clock corrected by its measured offset
/// from the Redis server's clock, so a worker whose clock is off neither runs scheduled
/// jobs early nor parks retries at the wrong time. The poller measures the offset on
/// every poll; `local` can be injected (tests simulate a skewed clock).
public final class WorkerClock: Sendable {
    private let local: @Sendable () -> Double
    /// Server minus local time, in microseconds.
    private let offsetMicros = Atomic<Int64>(0)

    public init(local: @escaping @Sendable () -> Double = { Timestamp.now() }) {
        self.local = local
    }

    /// This machine's clock, uncorrected.
    public func localNow() -> Double { local() }

    /// The corrected time (epoch seconds).
    public func now() -> Double { local() + offset }

    public var offset: Double { Double(offsetMicros.load(ordering: .relaxed)) / 1_000_000 }

    /// Records the server's time, read between `sentAt` and `receivedAt` (local clock).
    func observe(server: Double, sentAt: Double, receivedAt: Double) {
        let local = (sentAt + receivedAt) / 2
        offsetMicros.store(Int64(((server - local) * 1_000_000).rounded()), ordering: .relaxed)
    }
}
