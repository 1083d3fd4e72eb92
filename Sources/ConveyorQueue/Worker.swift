import ConveyorPlatform
import ConveyorRedis
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A worker process: one fetcher that feeds `concurrency` processor threads through the
/// dispatcher, the scheduled-job poller, the maintenance thread (heartbeat and orphan
/// rescue) and any extra services. `run()` blocks until the worker is told to stop
/// (TERM/INT, or `stop()` from Sidekiq's Web UI), then shuts down gracefully.
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    public let registry: JobRegistry
    public let state: WorkerState
    private let logger: Logger
    private let services: [any WorkerService]
    private let fetch: ReliableFetch
    private let dispatcher: JobDispatcher
    /// One per processor: an acknowledgement never waits for another thread's.
    private let acknowledgements: [AcknowledgementChannel]

    public init(configuration: WorkerConfiguration, registry: JobRegistry, logger: Logger, services: [any WorkerService] = []) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        self.services = services
        let nonce = JobID.make().prefix(12)
        state = WorkerState(identity: "\(ProcessFacts.hostname):\(ProcessFacts.pid):\(nonce)", concurrency: configuration.concurrency)
        fetch = ReliableFetch(identity: state.identity, queues: configuration.queues.names)
        dispatcher = JobDispatcher(book: DispatchBook(
            concurrency: configuration.concurrency, maxPrefetch: configuration.maxFetchBatch,
            prefetchWork: configuration.fetchBatchTarget.seconds))
        acknowledgements = (0..<configuration.concurrency).map { _ in AcknowledgementChannel(configuration: configuration.redis) }
    }

    /// Stop fetching new jobs; running ones finish, unstarted ones go back (Sidekiq's TSTP).
    public func quiet() {
        guard !state.isQuiet else { return }
        logger.notice("quiet: no longer accepting new work")
        state.quiet()
        dispatcher.quiet()
    }

    /// Begin a graceful shutdown (Sidekiq's TERM).
    public func stop() {
        guard !state.isStopping else { return }
        logger.notice("shutting down", metadata: ["timeout": "\(configuration.shutdownTimeout.seconds)s"])
        state.stop()
        dispatcher.quiet()
    }

    /// Handles TERM/INT (stop), TSTP (quiet) and TTIN (log busy jobs) itself.
    public func installSignalHandlers() -> SignalListener {
        SignalListener(signals: [SIGTERM, SIGINT, SIGTSTP, SIGTTIN]) { [self] signal in
            handle(signal: SignalListener.name(of: signal))
        }
    }

    func handle(signal: String) {
        switch signal {
        case "TERM", "INT": stop()
        case "TSTP": quiet()
        case "TTIN":
            for (index, slot) in state.snapshot() {
                logger.notice("busy", metadata: ["processor": "\(index)", "queue": .string(slot.queue), "payload": .string(String(decoding: slot.payload, as: UTF8.self))])
            }
        default: logger.info("ignoring signal \(signal)")
        }
    }

    /// Runs until stopped; returns the process exit code (0 after a graceful stop).
    public func run() -> Int32 {
        logger.notice("starting", metadata: [
            "identity": .string(state.identity), "concurrency": "\(configuration.concurrency)",
            "queues": .string(configuration.queues.entries.map { configuration.queues.isStrict ? $0.name : "\($0.name),\($0.weight)" }.joined(separator: " ")),
            "redis": .string(configuration.redis.displayName),
        ])
        guard let heartbeatRedis = connectWithRetry("heartbeat") else { return 0 }
        let heartbeat = Heartbeat(redis: heartbeatRedis, configuration: configuration, state: state, fetch: fetch, logger: logger) { [self] signal in
            handle(signal: signal)
        }
        do {
            try heartbeat.beat()
        } catch {
            logger.error("first heartbeat failed", metadata: ["error": "\(error)"])
        }

        let processors = ThreadGroup()
        for index in 0..<configuration.concurrency {
            spawn(processors, "processor-\(index)") { [self] in
                defer { state.processors[index].finished.store(true, ordering: .relaxed) }
                Processor(
                    index: index, fetch: fetch, dispatcher: dispatcher, acknowledgements: acknowledgements[index],
                    configuration: configuration, registry: registry, state: state, logger: logger
                ).run()
            }
        }
        let fetcher = ThreadGroup()
        spawn(fetcher, "fetcher") { [self] in
            guard let fetcher = connectWithRetry("fetch", { () throws(RedisError) in
                try Fetcher(fetch: fetch, dispatcher: dispatcher, configuration: configuration, signal: state.signal, logger: logger)
            }) else { return }
            fetcher.run()
        }
        let auxiliary = ThreadGroup()
        spawn(auxiliary, "scheduler") { [self] in
            guard let redis = connectWithRetry("scheduler") else { return }
            ScheduledPoller(redis: redis, logger: logger, pollInterval: configuration.pollInterval, clock: configuration.clock).run(until: state.signal)
        }
        spawn(auxiliary, "maintenance") { [self] in
            maintain(heartbeat)
        }
        let serviceContext = WorkerServiceContext(configuration: configuration, state: state, logger: logger)
        for service in services {
            spawn(auxiliary, service.name) { service.run(context: serviceContext) }
        }

        state.signal.wait(until: .stopping)
        return shutdown(heartbeat: heartbeat, processors: processors, fetcher: fetcher, auxiliary: auxiliary)
    }

    /// The maintenance thread: a heartbeat every `heartbeatInterval`, an orphan-rescue
    /// round every `recoveryInterval` (the first right away, so a replacement process
    /// recovers its predecessor's jobs as soon as their lease lapses).
    private func maintain(_ heartbeat: Heartbeat) {
        let rescuer = OrphanRescuer(interval: configuration.recoveryInterval)
        let outage = OutageLog(logger: logger, what: "Redis (heartbeat)")
        var nextBeat = ContinuousClock.now + configuration.heartbeatInterval
        var nextRescue = ContinuousClock.now
        while !state.isStopping {
            if ContinuousClock.now >= nextRescue {
                nextRescue = .now + rescuer.interval
                do {
                    try rescuer.rescue(on: heartbeat.redis, identity: state.identity, logger: logger)
                } catch {
                    outage.failed(error)
                }
            }
            if ContinuousClock.now >= nextBeat {
                nextBeat = .now + configuration.heartbeatInterval
                do {
                    try heartbeat.beat()
                    outage.recovered()
                } catch {
                    outage.failed(error)
                }
            }
            state.signal.sleep(for: min(nextBeat, nextRescue) - .now, orUntil: .stopping)
        }
    }

    private func shutdown(heartbeat: Heartbeat, processors: ThreadGroup, fetcher: ThreadGroup, auxiliary: ThreadGroup) -> Int32 {
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        if processors.count > 0 { logger.info("pausing to allow jobs to finish") }
        processors.wait(timeout: deadline - .now)
        // The fetcher pushes back what nobody started; the other threads stop using their
        // connections (the heartbeat's is used below) once they have returned.
        fetcher.wait(timeout: configuration.idleBlock + .seconds(6))
        auxiliary.wait(timeout: .seconds(5))
        // Redis must have read every acknowledgement before what is left goes back.
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1))
        for channel in acknowledgements {
            do {
                try backoff.retry(until: .now + .seconds(5)) { () throws(RedisError) in try channel.confirm() }
            } catch {
                logger.error("could not confirm acknowledgements; jobs finished in the last moments may run again", metadata: ["error": "\(error)"])
            }
            channel.close()
        }
        // Jobs still running past the timeout, and anything else left in this process's
        // lists, go back to the front of their queues; they will run again elsewhere
        // (at-least-once, as Sidekiq does). Finished jobs were acknowledged already.
        do {
            let pushedBack = try fetch.releaseAll(on: heartbeat.redis)
            if pushedBack > 0 { logger.warning("pushed unfinished jobs back to Redis", metadata: ["count": "\(pushedBack)"]) }
        } catch {
            logger.error("could not push unfinished jobs back; they will be recovered when this process's lease lapses", metadata: ["error": "\(error)"])
            return 0
        }
        do {
            try heartbeat.beat()  // final stats flush
            try heartbeat.deregister()
        } catch {
            logger.error("could not deregister from Redis", metadata: ["error": "\(error)"])
        }
        logger.notice("bye", metadata: ["processed": "\(state.processedTotal)", "failed": "\(state.failedTotal)"])
        return 0
    }

    private func connectWithRetry(_ role: String) -> RedisConnection? {
        var configuration = self.configuration.redis
        configuration.clientName = "conveyor-\(role)"
        return connectWithRetry(role) { () throws(RedisError) in try RedisConnection(configuration) }
    }

    /// Makes `connect` succeed, retrying every second (logging once) until stopped.
    private func connectWithRetry<T>(_ role: String, _ connect: () throws(RedisError) -> T) -> T? {
        var reported = false
        while !state.isStopping {
            do {
                return try connect()
            } catch {
                if !reported {
                    logger.error("cannot connect to Redis, retrying", metadata: ["role": .string(role), "error": "\(error)"])
                    reported = true
                }
                state.signal.sleep(for: .seconds(1), orUntil: .stopping)
            }
        }
        return nil
    }

    private func spawn(_ group: ThreadGroup, _ name: String, _ body: @escaping @Sendable () -> Void) {
        do {
            try group.spawn(name, body)
        } catch {
            // Out of threads: nothing this process can run safely; supervisors restart it.
            logger.critical("\(error)")
            fatalError("\(error)")
        }
    }
}
