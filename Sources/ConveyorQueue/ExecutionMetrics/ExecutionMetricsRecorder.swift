#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Collects Sidekiq's execution metrics as jobs finish: each processor thread counts into
/// `ThreadCounters` of its own (found through a thread-specific key), without locks, and
/// `drain()` — about once a second, from the flushing thread — gathers what every thread
/// counted since. Per job that is a thread-specific lookup, a string comparison and a few
/// plain stores.
public final class ExecutionMetricsRecorder: JobObserver {
    private let key: pthread_key_t
    private let threads = Mutex<[ThreadCounters]>([])
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
        if let raw = pthread_getspecific(key) {
            // Borrowed, not retained: `threads` keeps every thread's counters alive.
            Unmanaged<ThreadCounters>.fromOpaque(raw)._withUnsafeGuaranteedRef {
                $0.record(className: className, seconds: seconds, failed: failed)
            }
        } else {
            firstCounters().record(className: className, seconds: seconds, failed: failed)
        }
    }

    /// Everything recorded since the last drain, all threads merged. One caller at a time.
    public func drain() -> ExecutionTally {
        var total = returned.withLock { tally in
            defer { tally = ExecutionTally() }
            return tally
        }
        for thread in threads.withLock({ $0 }) { thread.collect(into: &total) }
        return total
    }

    /// Gives back a drained tally that could not be written, so no count is lost.
    public func giveBack(_ tally: ExecutionTally) {
        returned.withLock { $0.merge(tally) }
    }

    /// This thread's first job: make its counters.
    private func firstCounters() -> ThreadCounters {
        let made = ThreadCounters()
        // Retained by `threads` for the life of the recorder.
        threads.withLock { $0.append(made) }
        pthread_setspecific(key, Unmanaged.passUnretained(made).toOpaque())
        return made
    }
}
