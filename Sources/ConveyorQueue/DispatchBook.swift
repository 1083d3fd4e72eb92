/// The bookkeeping of fair dispatch in one worker process, as a pure value: the jobs
/// fetched and not started (one process-wide FIFO that any free processor takes from, so
/// a slow job holds up no other job while a processor is free), how many run, how many
/// to fetch next, and the prefetch bound, sized from measured job times so fast jobs are
/// fetched in batches and slow ones one per free processor. `JobDispatcher` applies it
/// under its lock; tests drive it directly.
struct DispatchBook: Sendable {
    struct Job: Sendable, Equatable {
        var raw: [UInt8]
        /// Index of its queue in the worker's configured queue list.
        var queueIndex: Int
    }

    let concurrency: Int
    /// The most unstarted jobs held beyond one per free processor.
    let maxPrefetch: Int
    /// Unstarted jobs held beyond free processors are sized to about this much work
    /// (seconds) per processor.
    let prefetchWork: Double
    private var unstarted: [Job] = []
    private var head = 0
    private(set) var running = 0
    private(set) var isQuiet = false
    /// Smoothed job duration (seconds).
    private(set) var averageJobSeconds: Double

    init(concurrency: Int, maxPrefetch: Int, prefetchWork: Double) {
        precondition(concurrency > 0 && maxPrefetch >= 0 && prefetchWork >= 0)
        self.concurrency = concurrency
        self.maxPrefetch = maxPrefetch
        self.prefetchWork = prefetchWork
        // Until jobs have been measured, hold about one extra job per processor.
        averageJobSeconds = max(prefetchWork, 1e-6)
    }

    var bufferedCount: Int { unstarted.count - head }
    var buffered: ArraySlice<Job> { unstarted[head...] }
    var freeProcessors: Int { concurrency - running }

    /// Unstarted jobs to hold beyond one per free processor.
    var prefetch: Int {
        let fit = prefetchWork * Double(concurrency) / averageJobSeconds
        return fit >= Double(maxPrefetch) ? maxPrefetch : max(0, Int(fit))
    }

    /// How many jobs to fetch now; 0 when none should be. Fetches at once when a free
    /// processor has nothing to take, otherwise only once the buffer has fallen to half the
    /// prefetch, so fast jobs are fetched in batches.
    var fetchSize: Int {
        guard !isQuiet else { return 0 }
        let buffered = bufferedCount
        let wanted = freeProcessors + prefetch - buffered
        if buffered < freeProcessors { return wanted }
        return wanted >= max(1, (prefetch + 1) / 2) ? wanted : 0
    }

    /// The oldest unstarted job, now counted as running; nil when there is none, every
    /// processor is busy, or the worker is quiet.
    mutating func take() -> Job? {
        guard !isQuiet, head < unstarted.count, running < concurrency else { return nil }
        let job = unstarted[head]
        head += 1
        running += 1
        if head == unstarted.count {
            unstarted.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= unstarted.count {
            unstarted.removeFirst(head)
            head = 0
        }
        return job
    }

    /// A running job finished after `elapsed` seconds.
    mutating func finish(elapsed: Double) {
        precondition(running > 0, "finish without a running job")
        running -= 1
        averageJobSeconds += (max(elapsed, 1e-6) - averageJobSeconds) * 0.2
    }

    /// Adds fetched jobs, oldest first. Once quiet, nothing is added: the jobs are
    /// returned to be pushed back to their queues.
    mutating func deliver(_ jobs: [Job]) -> [Job] {
        guard !isQuiet else { return jobs }
        unstarted.append(contentsOf: jobs)
        return []
    }

    /// Stops handing out jobs; returns the unstarted ones (oldest first) to push back.
    mutating func quiet() -> [Job] {
        isQuiet = true
        let left = Array(unstarted[head...])
        unstarted.removeAll()
        head = 0
        return left
    }
}
