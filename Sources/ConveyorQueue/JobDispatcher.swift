import ConveyorPlatform

/// Hands fetched jobs to a worker's processors: any free processor takes the oldest
/// unstarted job, and the fetcher is woken when more should be fetched. The rules live
/// in `DispatchBook`; this class only applies them under one lock and wakes the right
/// waiters (processors waiting for a job, the fetcher waiting for demand).
final class JobDispatcher: @unchecked Sendable {
    enum Next: Equatable {
        case job(DispatchBook.Job)
        /// Nothing to take now (only returned when the caller asked not to wait).
        case empty
        /// The worker is quiet: take no more jobs.
        case quiet
    }

    private let lock = ConditionLock()
    private let jobsAvailable: ConditionLock.Condition
    private let demand: ConditionLock.Condition
    private var book: DispatchBook
    private var waitingProcessors = 0
    private var fetcherWaiting = false
    private var returned: [DispatchBook.Job] = []

    init(book: DispatchBook) {
        self.book = book
        jobsAvailable = lock.makeCondition()
        demand = lock.makeCondition()
    }

    /// For a processor: records that its previous job (if `finished` is given) finished,
    /// then takes the next job, waiting for one when `wait` is true.
    func next(finished elapsed: Double?, wait: Bool) -> Next {
        lock.lock()
        defer { lock.unlock() }
        if let elapsed { book.finish(elapsed: elapsed) }
        while true {
            if book.isQuiet { return .quiet }
            if let job = book.take() {
                wakeFetcherIfNeeded()
                return .job(job)
            }
            wakeFetcherIfNeeded()
            guard wait else { return .empty }
            waitingProcessors += 1
            jobsAvailable.wait()
            waitingProcessors -= 1
        }
    }

    /// For the fetcher: waits until jobs should be fetched and returns how many; nil once
    /// the worker is quiet.
    func waitForDemand() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if book.isQuiet { return nil }
            let size = book.fetchSize
            if size > 0 { return size }
            fetcherWaiting = true
            demand.wait()
            fetcherWaiting = false
        }
    }

    /// How many jobs to fetch now, without waiting (0: none, or quiet).
    var fetchSize: Int { lock.withLock { book.fetchSize } }

    /// Adds fetched jobs (oldest first) and wakes processors to take them. Returns the
    /// jobs that must be pushed back because the worker turned quiet meanwhile.
    func deliver(_ jobs: [DispatchBook.Job]) -> [DispatchBook.Job] {
        guard !jobs.isEmpty else { return [] }
        lock.lock()
        defer { lock.unlock() }
        let refused = book.deliver(jobs)
        if refused.isEmpty {
            // Wake as many waiting processors as there are jobs, not all of them.
            for _ in 0..<min(waitingProcessors, jobs.count) { jobsAvailable.signal() }
        }
        return refused
    }

    /// Stops dispatching: processors take no more jobs, the fetcher fetches no more and
    /// collects the unstarted ones with `returnedJobs()` to push them back.
    func quiet() {
        lock.lock()
        defer { lock.unlock() }
        guard !book.isQuiet else { return }
        returned = book.quiet()
        jobsAvailable.broadcast()
        demand.broadcast()
    }

    /// The unstarted jobs (oldest first) taken back by `quiet()`, once.
    func returnedJobs() -> [DispatchBook.Job] {
        lock.withLock {
            defer { returned = [] }
            return returned
        }
    }

    var running: Int { lock.withLock { book.running } }
    var buffered: Int { lock.withLock { book.bufferedCount } }

    private func wakeFetcherIfNeeded() {
        if fetcherWaiting, book.fetchSize > 0 { demand.signal() }
    }
}
