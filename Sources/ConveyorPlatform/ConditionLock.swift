#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CConveyorPlatform

/// A mutex with a condition variable (pthread), for threads that wait for each other:
/// `lock()`/`unlock()` around shared state, `wait` releases the lock while blocked.
/// Timed waits use the monotonic clock, so wall-clock jumps don't shorten or stretch them.
public final class ConditionLock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        // Adaptive: spins briefly before sleeping, as the short sections these locks guard
        // (a dispatcher hand-off) want when many threads enter them.
        conveyor_adaptive_mutex_init(mutex)
        Self.initialise(condition)
    }

    fileprivate static func initialise(_ condition: UnsafeMutablePointer<pthread_cond_t>) {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if canImport(Glibc)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits (the lock held) until signalled.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (the lock held) until signalled or `timeout` passed; false when it timed out.
    @discardableResult
    public func wait(timeout: Duration) -> Bool { Self.timedWait(condition, mutex, timeout) }

    fileprivate static func timedWait(
        _ condition: UnsafeMutablePointer<pthread_cond_t>, _ mutex: UnsafeMutablePointer<pthread_mutex_t>, _ timeout: Duration
    ) -> Bool {
        var now = timespec()
        #if canImport(Glibc)
        clock_gettime(CLOCK_MONOTONIC, &now)
        #else
        clock_gettime(CLOCK_REALTIME, &now)
        #endif
        let (seconds, attoseconds) = max(timeout, .zero).components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var deadline = timespec(tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: 0)
        nanoseconds %= 1_000_000_000
        deadline.tv_nsec = nanoseconds
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }

    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// A second condition on the same mutex, for two kinds of waiters (say, consumers
    /// waiting for items and a producer waiting for room) that are woken separately.
    public final class Condition: @unchecked Sendable {
        fileprivate let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        fileprivate unowned let lock: ConditionLock

        fileprivate init(lock: ConditionLock) {
            self.lock = lock
            ConditionLock.initialise(condition)
        }

        deinit {
            pthread_cond_destroy(condition)
            condition.deallocate()
        }

        /// Waits (the lock held) until signalled.
        public func wait() { pthread_cond_wait(condition, lock.mutex) }

        /// Waits (the lock held) until signalled or `timeout` passed; false when it timed out.
        @discardableResult
        public func wait(timeout: Duration) -> Bool { ConditionLock.timedWait(condition, lock.mutex, timeout) }

        public func signal() { pthread_cond_signal(condition) }
        public func broadcast() { pthread_cond_broadcast(condition) }
    }

    public func makeCondition() -> Condition { Condition(lock: self) }
}
