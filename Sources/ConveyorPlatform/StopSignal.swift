import Synchronization

/// The two shutdown steps of a worker, as one signal every sleeping thread waits on:
/// `quiet()` (stop taking new work) and `stop()` (shut down; implies quiet). Sleepers call
/// `sleep(for:)` and wake the moment either happens, instead of polling a flag. Reading
/// the level is one atomic load, cheap enough for every job.
public final class StopSignal: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case running = 0, quiet = 1, stopping = 2
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    private let condition = ConditionLock()
    private let raw = Atomic<Int>(Level.running.rawValue)

    public init() {}

    public var level: Level { Level(rawValue: raw.load(ordering: .acquiring)) ?? .stopping }
    public var isQuiet: Bool { level >= .quiet }
    public var isStopping: Bool { level == .stopping }

    public func quiet() { raise(to: .quiet) }
    public func stop() { raise(to: .stopping) }

    private func raise(to level: Level) {
        condition.lock()
        if raw.load(ordering: .relaxed) < level.rawValue { raw.store(level.rawValue, ordering: .releasing) }
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps for `duration` or until the signal reaches `level`; true when it did.
    @discardableResult
    public func sleep(for duration: Duration, orUntil level: Level = .quiet) -> Bool {
        let deadline = ContinuousClock.now + duration
        condition.lock()
        defer { condition.unlock() }
        while self.level < level {
            let left = deadline - .now
            if left <= .zero { return false }
            condition.wait(timeout: left)
        }
        return true
    }

    /// Blocks until the signal reaches `level`.
    public func wait(until level: Level) {
        condition.lock()
        while self.level < level { condition.wait() }
        condition.unlock()
    }
}
