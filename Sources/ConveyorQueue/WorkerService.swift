import Logging

/// Extra work a worker process runs on a thread of its own, such as the batched
/// migration scheduler. `run` should return soon after `context.isStopping` turns true.
public protocol WorkerService: Sendable {
    var name: String { get }
    func run(context: WorkerServiceContext)
}

public struct WorkerServiceContext: Sendable {
    public let configuration: WorkerConfiguration
    public let state: WorkerState
    public let logger: Logger

    public var isStopping: Bool { state.isStopping }
    /// True when quiet or stopping: services should start no new work.
    public var isQuiet: Bool { state.isQuiet }

    /// Sleeps up to `duration`, waking the moment the worker turns quiet; true when it did.
    @discardableResult
    public func sleep(for duration: Duration) -> Bool { state.signal.sleep(for: duration, orUntil: .quiet) }
}
