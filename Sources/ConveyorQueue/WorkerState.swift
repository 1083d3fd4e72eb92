import Synchronization

/// State shared by a worker's threads: counters the heartbeat flushes, the quiet and
/// stop flags, and what each processor is running.
public final class WorkerState: Sendable {
    public let identity: String
    let processedSinceFlush = Atomic<Int>(0)
    let failedSinceFlush = Atomic<Int>(0)
    /// Totals since start, for logs and metrics.
    public let processedTotal = Atomic<Int>(0)
    public let failedTotal = Atomic<Int>(0)
    let quietFlag = Atomic<Bool>(false)
    let stoppingFlag = Atomic<Bool>(false)
    let processors: [ProcessorSlot]
    let startedAt: Double
    /// Observability hook: when the heartbeat last succeeded (see WorkerState+Health.swift).
    let beats = BeatRecord()

    public init(identity: String, concurrency: Int) {
        self.identity = identity
        processors = (0..<concurrency).map { _ in ProcessorSlot() }
        startedAt = Timestamp.now()
    }

    public var isQuiet: Bool { quietFlag.load(ordering: .relaxed) || isStopping }
    public var isStopping: Bool { stoppingFlag.load(ordering: .relaxed) }

    public func quiet() { quietFlag.store(true, ordering: .relaxed) }
    public func stop() { stoppingFlag.store(true, ordering: .relaxed) }

    /// Jobs running now.
    public var busy: Int { processors.reduce(0) { $0 + ($1.work.withLock { $0 } == nil ? 0 : 1) } }

    func snapshot() -> [(Int, WorkSlot)] {
        processors.indices.compactMap { index in processors[index].work.withLock { $0 }.map { (index, $0) } }
    }
}

/// What one processor thread shares with the rest of the process.
final class ProcessorSlot: Sendable {
    /// The job it is running, if any.
    let work = Mutex<WorkSlot?>(nil)
    /// How many jobs of its current batch finished and are still in its working list, so
    /// a hard stop can drop exactly those before pushing the rest back.
    let batchProgress = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
}

/// One running job, as the heartbeat reports it in `<identity>:work`.
struct WorkSlot: Sendable {
    var queue: String
    var payload: [UInt8]
    var runAt: Int
    var workingList: String
}
