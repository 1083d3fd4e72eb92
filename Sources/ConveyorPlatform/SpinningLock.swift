#if canImport(Glibc)
import Glibc
#endif
import CConveyorPlatform

/// A mutex for critical sections of a syscall or less that many threads enter often: it
/// spins a little before sleeping (glibc's adaptive mutex), where a contended
/// `Synchronization.Mutex` (a priority-inheritance futex on Linux) always sleeps in the
/// kernel. Guards state the caller keeps itself.
public final class SpinningLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() {
        conveyor_adaptive_mutex_init(mutex)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
