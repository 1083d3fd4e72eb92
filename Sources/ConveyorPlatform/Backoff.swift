/// Exponential backoff: `initial`, doubling up to `maximum`, back to `initial` on `reset()`.
/// One helper for every retry loop (Redis and PostgreSQL reconnects, the outage log, the
/// worker-process supervisor), so they all grow and cap the same way.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    /// The pause the next `next()` returns.
    public private(set) var current: Duration

    public init(initial: Duration, maximum: Duration) {
        precondition(initial > .zero && maximum >= initial, "backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        current = initial
    }

    /// The pause to take now; the one after it is twice as long (capped).
    public mutating func next() -> Duration {
        let pause = current
        current = min(current * 2, maximum)
        return pause
    }

    public mutating func reset() { current = initial }

    /// Retries `attempt` until it succeeds or the next pause would end past `deadline`,
    /// sleeping the backoff between attempts; rethrows the last error. `giveUp` stops at
    /// once for errors no retry can fix (bad configuration).
    public mutating func retry<T, E: Error>(
        until deadline: ContinuousClock.Instant, giveUp: (E) -> Bool = { _ in false }, _ attempt: () throws(E) -> T
    ) throws(E) -> T {
        while true {
            do {
                return try attempt()
            } catch {
                if giveUp(error) { throw error }
                let pause = next()
                if ContinuousClock.now + pause > deadline { throw error }
                blockingSleep(pause)
            }
        }
    }
}
