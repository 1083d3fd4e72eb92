import ConveyorPlatform
import Synchronization

/// State shared by a worker's threads: the quiet/stop signal they all wait on, and what
/// each processor is running and has counted.
public final class WorkerState: Sendable {
    public let identity: String
    /// Quiet (stop taking work) and stop (shut down): every sleeping thread wakes on it.
    public let signal = StopSignal()
    let processors: [ProcessorSlot]
    let startedAt: Double
    /// Observability hook: when the heartbeat last succeeded (see WorkerState+Health.swift).
    let beats = BeatRecord()

    public init(identity: String, concurrency: Int) {
        self.identity = identity
        processors = (0..<concurrency).map { _ in ProcessorSlot() }
        startedAt = Timestamp.now()
    }

    public var isQuiet: Bool { signal.isQuiet }
    public var isStopping: Bool { signal.isStopping }

    public func quiet() { signal.quiet() }
    public func stop() { signal.stop() }

    /// Jobs finished (successfully or not) since start, for logs and metrics.
    public var processedTotal: Int { processors.reduce(0) { $0 + $1.processed.load(ordering: .relaxed) } }
    /// Jobs failed since start.
    public var failedTotal: Int { processors.reduce(0) { $0 + $1.failed.load(ordering: .relaxed) } }

    /// Jobs running now.
    public var busy: Int { processors.reduce(0) { $0 + ($1.work.withLock { $0 } == nil ? 0 : 1) } }

    func snapshot() -> [(Int, WorkSlot)] {
        processors.indices.compactMap { index in processors[index].work.withLock { $0 }.map { (index, $0) } }
    }
}

/// What one processor thread shares with the rest of the process. Each processor counts
/// in its own slot, so counting costs no contended cache line.
final class ProcessorSlot: Sendable {
    /// The job it is running, if any.
    let work = Mutex<WorkSlot?>(nil)
    /// Jobs it finished, and how many of them failed (totals since start).
    let processed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    /// Set when its thread has returned.
    let finished = Atomic<Bool>(false)
}

/// One running job, as the heartbeat reports it in `<identity>:work`.
struct WorkSlot: Sendable {
    var queue: String
    var payload: [UInt8]
    var runAt: Int
}
