import Synchronization

/// What the health endpoints and the Sidekiq metrics flusher need to know about a worker:
/// whether it has registered, how long ago its heartbeat last succeeded, whether any
/// processor is still running. Kept apart from the fetch path so it survives its rewrites.
extension WorkerState {
    /// Called by the heartbeat after each beat Redis accepted.
    func recordBeat() { beats.record() }

    /// True once a heartbeat reached Redis: the process is in Sidekiq's `processes` set.
    public var isRegistered: Bool { beats.last != nil }

    /// Time since the last successful heartbeat, or since the worker was created when none
    /// has succeeded yet.
    public var sinceLastBeat: Duration { ContinuousClock.now - (beats.last ?? beats.created) }

    /// Processor threads that have not returned yet (they finish running jobs after a stop).
    public var runningProcessorCount: Int {
        processors.reduce(0) { $0 + ($1.finished.load(ordering: .relaxed) ? 0 : 1) }
    }
}
