import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
import Logging

/// One processor thread: takes the oldest unstarted job of the process from the
/// dispatcher (so no job waits behind a slow one while this thread is free), runs it, and
/// acknowledges it before taking the next — written to the kernel on the process's
/// acknowledgement channel without waiting for a reply, so it costs one write and no round
/// trip, and after a crash only the jobs that were running run again. Failures move to
/// retry/dead in one script call.
final class Processor {
    let index: Int
    let configuration: WorkerConfiguration
    let registry: JobRegistry
    let state: WorkerState
    let logger: Logger
    let redis: RedisConnection
    private let fetch: ReliableFetch
    private let dispatcher: JobDispatcher
    private let acknowledgements: AcknowledgementChannel
    private let connections: ConnectionCache
    private var random = SystemRandomNumberGenerator()
    private let outage: OutageLog

    init(index: Int, fetch: ReliableFetch, dispatcher: JobDispatcher, acknowledgements: AcknowledgementChannel, configuration: WorkerConfiguration, registry: JobRegistry, state: WorkerState, logger: Logger) {
        self.index = index
        self.fetch = fetch
        self.dispatcher = dispatcher
        self.acknowledgements = acknowledgements
        self.configuration = configuration
        self.registry = registry
        self.state = state
        self.logger = logger
        var redisConfiguration = configuration.redis
        redisConfiguration.clientName = "conveyor-processor"
        redis = RedisConnection(connectingLazily: redisConfiguration)
        connections = ConnectionCache(configuration: configuration.postgres)
        outage = OutageLog(logger: logger, what: "Redis")
    }

    func run() {
        defer { connections.close() }
        var finished: Double?
        while true {
            var next = dispatcher.next(finished: finished, wait: false)
            finished = nil
            if next == .empty {
                // An idle moment: send the acknowledgements the kernel still holds.
                acknowledgements.push()
                next = dispatcher.next(finished: nil, wait: true)
            }
            guard case .job(let job) = next else { return }
            finished = execute(job)
        }
    }

    // MARK: - Running a job

    /// Runs one job and records its outcome; returns how long it ran (seconds).
    private func execute(_ job: DispatchBook.Job) -> Double {
        let queue = fetch.queues[job.queueIndex]
        let payload: JobPayload
        switch JobPayload.decode(job.raw) {
        case .failure(let invalid):
            killInvalid(job, invalid: invalid, queue: queue)
            return 0
        case .success(let decoded):
            payload = decoded
        }
        let className = payload.className
        // Unique jobs only (nil for others: one field lookup); see Processor+Unique.swift.
        let uniqueLock = UniqueLock(payload: payload)
        if let uniqueLock, uniqueLock.until == .start { releaseUnique(uniqueLock) }
        let slot = state.processors[index]
        slot.work.withLock { $0 = WorkSlot(queue: queue, payload: job.raw, runAt: Int(Timestamp.now())) }
        let start = ContinuousClock.now
        var failure: (any Error)?
        if let handler = registry.handler(for: className) {
            let context = JobContext(
                payload: payload, queue: queue, logger: logger, redis: redis, connections: connections, signal: state.signal)
            do {
                try handler(context, payload.args)
            } catch {
                failure = error
            }
        } else {
            failure = JobError.uninitializedConstant(className, "no job class '\(className)' is registered in this worker")
        }
        let elapsed = (ContinuousClock.now - start).seconds
        slot.work.withLock { $0 = nil }
        slot.processed.add(1, ordering: .relaxed)
        // Counted under the wrapped class, as Sidekiq's metrics middleware does (`wrapped || class`):
        // an ActiveJob job shows as its own class, not as the adapter's wrapper.
        configuration.observer?.jobFinished(queue: queue, className: payload.displayClass, seconds: elapsed, failed: failure != nil)
        guard let failure else {
            if let uniqueLock, uniqueLock.until == .success { releaseUnique(uniqueLock) }
            acknowledge(job)
            // Built only when info is logged (the metadata is an autoclosure).
            logger.info("done", metadata: ["jid": .string(payload.jid), "class": .string(className), "queue": .string(queue), "elapsed": .string(Self.formatSeconds(elapsed))])
            return elapsed
        }
        slot.failed.add(1, ordering: .relaxed)
        let errorClass = (failure as? any JobFailureDescribing)?.jobErrorClass ?? String(describing: type(of: failure))
        let message = String(describing: failure)
        logger.warning("fail", metadata: [
            "jid": .string(payload.jid), "class": .string(className), "queue": .string(queue), "elapsed": .string(Self.formatSeconds(elapsed)),
            "error_class": .string(errorClass), "error": .string(message),
        ])
        let outcome = configuration.retryPolicy.outcome(
            for: payload, queue: queue, errorClass: errorClass, errorMessage: message, now: configuration.clock.now(), random: &random)
        recordFailure(job, outcome: outcome)
        if let uniqueLock, uniqueLock.until == .success, !outcome.isRetry { releaseUnique(uniqueLock) }
        return elapsed
    }

    /// `0.000123`: seconds with microseconds, without Foundation's formatter on the hot path.
    static func formatSeconds(_ seconds: Double) -> String {
        let micros = Int((max(seconds, 0) * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    // MARK: - Acknowledging

    /// Removes the finished job from the working list before this thread takes another.
    /// Retries through a Redis outage: taking another job first could let a crash run
    /// this one again.
    private func acknowledge(_ job: DispatchBook.Job) {
        let command = fetch.acknowledgement(of: job.raw, queueIndex: job.queueIndex)
        untilDone { () throws(RedisError) in try acknowledgements.send(command) }
    }

    // MARK: - Failures

    private func killInvalid(_ job: DispatchBook.Job, invalid: JobPayload.Invalid, queue: String) {
        logger.error("invalid payload sent to the dead set", metadata: ["queue": .string(queue), "reason": .string(invalid.reason)])
        var wrapper = JobPayload(className: "Conveyor::InvalidPayload", args: [.string(String(decoding: job.raw, as: UTF8.self))], queue: queue, retry: .disabled)
        wrapper.object["error_class"] = .string(invalid.errorClass)
        wrapper.object["error_message"] = .string(invalid.reason)
        wrapper.setTimestamp("failed_at", configuration.clock.now())
        recordFailure(job, outcome: .dead(wrapper))
    }

    /// Moves the job from the working list to retry/dead in one script call, retrying
    /// through a Redis outage (the job stays in the working list meanwhile).
    private func recordFailure(_ job: DispatchBook.Job, outcome: RetryPolicy.Outcome) {
        let now = configuration.clock.now()
        let target: ReliableFetch.FailureTarget
        switch outcome {
        case .retry(let payload, let at): target = .retry(payload: payload.serialized(), at: at)
        case .dead(let payload):
            target = .dead(payload: payload.serialized(), now: now, cutoff: now - configuration.deadTimeout.seconds, maxJobs: configuration.deadMaxJobs)
        case .discard: target = .discard
        }
        untilDone { () throws(RedisError) in
            try fetch.fail(job.raw, queueIndex: job.queueIndex, to: target, on: redis)
        }
    }

    /// Runs `body` until it succeeds, backing off through a Redis outage; gives up only
    /// when the worker is stopping (the job then stays in the working list, which the
    /// stop pushes back).
    private func untilDone(_ body: () throws(RedisError) -> Void) {
        while true {
            do {
                try body()
                outage.recovered()
                return
            } catch {
                outage.failed(error)
                if state.isStopping { return }
                state.signal.sleep(for: outage.backoff, orUntil: .stopping)
            }
        }
    }
}

@available(*, unavailable)
extension Processor: Sendable {}
