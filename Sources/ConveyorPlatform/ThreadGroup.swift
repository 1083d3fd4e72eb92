/// Named OS threads started together and waited for together (a worker's processors, its
/// fetcher, its services): `wait(timeout:)` wakes the moment the last one returns.
public final class ThreadGroup: Sendable {
    private let condition = ConditionLock()
    nonisolated(unsafe) private var running = 0

    public init() {}

    /// Starts `body` on a thread of its own.
    public func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) throws {
        condition.withLock { running += 1 }
        do {
            try DetachedThread.start(name: name) { [self] in
                body()
                condition.lock()
                running -= 1
                if running == 0 { condition.broadcast() }
                condition.unlock()
            }
        } catch {
            condition.withLock { running -= 1 }
            throw error
        }
    }

    /// Threads still running.
    public var count: Int { condition.withLock { running } }

    /// Waits until every thread returned or `timeout` passed; true when all returned.
    @discardableResult
    public func wait(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        condition.lock()
        defer { condition.unlock() }
        while running > 0 {
            let left = deadline - .now
            if left <= .zero { return false }
            condition.wait(timeout: left)
        }
        return true
    }
}
