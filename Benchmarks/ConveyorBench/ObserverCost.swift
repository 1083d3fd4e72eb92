import ConveyorQueue
#if canImport(Glibc)
import Glibc
#endif

/// `ConveyorBench observer-cost`: what recording Sidekiq's execution metrics adds to each job
/// on a processor thread, measured in process (the throughput row cannot resolve a few ns).
/// Prints JSON: ns per job for a short class name and for a long one (compared byte by byte),
/// with a drain every 100,000 jobs as the flusher does. Timed in the thread's CPU time, so
/// other processes sharing the cores do not inflate it.
enum ObserverCost {
    static func run(calls: Int = 5_000_000) {
        // Built at run time, two copies each: the processor decodes a new string per job.
        let short = [String("Noop" + "Job"), String("No" + "opJob")]
        let long = [String("BackgroundMigration" + "Worker"), String("Background" + "MigrationWorker")]
        var results: [String] = []
        for (label, names) in [("short_class_ns", short), ("long_class_ns", long)] {
            let recorder = ExecutionMetricsRecorder()
            var best = Double.infinity
            for _ in 0..<3 {
                let start = threadCPUNanoseconds()
                for i in 0..<calls {
                    recorder.jobFinished(queue: "default", className: names[i & 1], seconds: 0.000002, failed: false)
                    if i % 100_000 == 0 { _ = recorder.drain() }
                }
                best = min(best, Double(threadCPUNanoseconds() - start) / Double(calls))
            }
            results.append("\"\(label)\": \(Double(Int(best * 10)) / 10)")
        }
        print("{" + results.joined(separator: ", ") + "}")
    }

    static func threadCPUNanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }
}
