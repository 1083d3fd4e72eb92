#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Collects Sidekiq's execution metrics as jobs finish: each processor thread counts into a
/// tally of its own (found through a thread-specific key, so threads never wait for each
/// other), and `drain()` — once a second, from the flushing thread — swaps every tally for
/// an empty one. Per job that is a thread-specific lookup, an uncontended lock and a few
/// additions.
public final class ExecutionMetricsRecorder: JobObserver {
    private final class ThreadTally: Sendable {
        let tally = Mutex(ExecutionTally())
    }

    private let key: pthread_key_t
    private let threads = Mutex<[ThreadTally]>([])
    /// Counts handed back by a flush that failed, written with the next one.
    private let returned = Mutex(ExecutionTally())

    public init() {
        var key = pthread_key_t()
        let status = pthread_key_create(&key, nil)
        precondition(status == 0, "pthread_key_create failed (\(status)): too many thread-specific keys")
        self.key = key
    }

    deinit {
        pthread_key_delete(key)
    }

    public func jobFinished(queue: String, className: String, seconds: Double, failed: Bool) {
        threadTally().tally.withLock { $0.record(className: className, seconds: seconds, failed: failed) }
    }

    /// Everything recorded since the last drain, all threads merged.
    public func drain() -> ExecutionTally {
        var total = returned.withLock { tally in
            defer { tally = ExecutionTally() }
            return tally
        }
        for thread in threads.withLock({ $0 }) {
            let taken = thread.tally.withLock { tally in
                defer { tally = ExecutionTally() }
                return tally
            }
            total.merge(taken)
        }
        return total
    }

    /// Gives back a drained tally that could not be written, so no count is lost.
    public func giveBack(_ tally: ExecutionTally) {
        returned.withLock { $0.merge(tally) }
    }

    private func threadTally() -> ThreadTally {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadTally>.fromOpaque(raw).takeUnretainedValue()
        }
        let made = ThreadTally()
        // Retained by `threads` for the life of the recorder.
        threads.withLock { $0.append(made) }
        pthread_setspecific(key, Unmanaged.passUnretained(made).toOpaque())
        return made
    }
}
