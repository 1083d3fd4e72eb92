import ConveyorPlatform
import ConveyorRedis
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// A worker process: `concurrency` processor threads, the scheduled-job poller, the
/// heartbeat and any extra services. `run()` blocks until the worker is told to stop
/// (TERM/INT, or `stop()` from Sidekiq's Web UI), then shuts down gracefully.
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    public let registry: JobRegistry
    public let state: WorkerState
    private let logger: Logger
    private let services: [any WorkerService]
    private let runningProcessors = Atomic<Int>(0)

    public init(configuration: WorkerConfiguration, registry: JobRegistry, logger: Logger, services: [any WorkerService] = []) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
        self.services = services
        let nonce = JobID.make().prefix(12)
        state = WorkerState(identity: "\(ProcessFacts.hostname):\(ProcessFacts.pid):\(nonce)", concurrency: configuration.concurrency)
    }

    /// Stop fetching new jobs; running ones finish (Sidekiq's TSTP).
    public func quiet() {
        guard !state.isQuiet else { return }
        logger.notice("quiet: no longer accepting new work")
        state.quiet()
    }

    /// Begin a graceful shutdown (Sidekiq's TERM).
    public func stop() {
        guard !state.isStopping else { return }
        logger.notice("shutting down", metadata: ["timeout": "\(configuration.shutdownTimeout.seconds)s"])
        state.stop()
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
        let heartbeatRedis = connectWithRetry("heartbeat")
        guard let heartbeatRedis else { return 0 }
        let heartbeat = Heartbeat(redis: heartbeatRedis, configuration: configuration, state: state, logger: logger) { [self] signal in
            handle(signal: signal)
        }
        do {
            try heartbeat.beat()
        } catch {
            logger.error("first heartbeat failed", metadata: ["error": "\(error)"])
        }

        for index in 0..<configuration.concurrency {
            runningProcessors.add(1, ordering: .relaxed)
            spawn("processor-\(index)") { [self] in
                defer {
                    state.processors[index].finished.store(true, ordering: .relaxed)
                    runningProcessors.subtract(1, ordering: .relaxed)
                }
                var processor: Processor?
                while processor == nil, !state.isQuiet {
                    do {
                        processor = try Processor(index: index, configuration: configuration, registry: registry, state: state, logger: logger)
                    } catch {
                        logger.error("processor cannot connect to Redis, retrying", metadata: ["error": "\(error)"])
                        blockingSleep(seconds: 1)
                    }
                }
                processor?.run()
            }
        }
        let auxiliaryRunning = RunningCount(2 + services.count)
        spawn("scheduler") { [self] in
            defer { auxiliaryRunning.decrement() }
            guard let redis = connectWithRetry("scheduler") else { return }
            ScheduledPoller(redis: redis, logger: logger, pollInterval: configuration.pollInterval).run { state.isQuiet }
        }
        spawn("heartbeat") { [self] in
            defer { auxiliaryRunning.decrement() }
            let outage = OutageLog(logger: logger, what: "Redis (heartbeat)")
            while !state.isStopping {
                sleep(configuration.heartbeatInterval)
                guard !state.isStopping else { break }
                do {
                    try heartbeat.beat()
                    outage.recovered()
                } catch {
                    outage.failed(error)
                }
            }
        }
        let serviceContext = WorkerServiceContext(configuration: configuration, state: state, logger: logger)
        for service in services {
            spawn(service.name) {
                defer { auxiliaryRunning.decrement() }
                service.run(context: serviceContext)
            }
        }

        while !state.isStopping { blockingSleep(seconds: 0.05) }
        return shutdown(heartbeat: heartbeat, auxiliaryRunning: auxiliaryRunning)
    }

    private func shutdown(heartbeat: Heartbeat, auxiliaryRunning: RunningCount) -> Int32 {
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        if runningProcessors.load(ordering: .relaxed) > 0 {
            logger.info("pausing to allow jobs to finish")
        }
        while runningProcessors.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            blockingSleep(seconds: 0.02)
        }
        // The heartbeat thread has stopped using its connection once it has returned.
        let auxiliaryDeadline = ContinuousClock.now + .seconds(5)
        while auxiliaryRunning.value > 0, ContinuousClock.now < auxiliaryDeadline {
            blockingSleep(seconds: 0.02)
        }
        // Jobs still running past the timeout, and anything else left in this process's
        // working lists, go back to the front of their queues; they will run again
        // elsewhere (at-least-once, as Sidekiq does). Finished jobs are dropped first.
        var requeued = false
        do {
            let pushedBack = try requeueWorkingLists(heartbeat.redis)
            if pushedBack > 0 { logger.warning("pushed unfinished jobs back to Redis", metadata: ["count": "\(pushedBack)"]) }
            requeued = true
        } catch {
            logger.error("could not push unfinished jobs back; they will be recovered when this process's lease lapses", metadata: ["error": "\(error)"])
        }
        guard requeued else { return 0 }
        do {
            try heartbeat.beat()  // final stats flush
            try heartbeat.deregister(processors: 0..<configuration.concurrency)
        } catch {
            logger.error("could not deregister from Redis", metadata: ["error": "\(error)"])
        }
        logger.notice("bye", metadata: ["processed": "\(state.processedTotal.load(ordering: .relaxed))", "failed": "\(state.failedTotal.load(ordering: .relaxed))"])
        return 0
    }

    private func requeueWorkingLists(_ redis: RedisConnection) throws(RedisError) -> Int {
        try redis.load(QueueScripts.requeue)
        var commands: [RedisCommand] = []
        for index in 0..<configuration.concurrency {
            let running = state.processors[index].finished.load(ordering: .relaxed) ? nil : state.processors[index].work.withLock { $0 }
            for (list, owner) in Processor.registryEntries(identity: state.identity, processor: index, queues: configuration.queues.names) {
                let queue = String(owner.split(separator: "\t").last ?? "default")
                let finished = running?.workingList == list ? state.processors[index].batchProgress.load(ordering: .relaxed) : 0
                commands.append(RedisConnection.evalshaCommand(QueueScripts.requeue, QueueScripts.requeueArguments(list: list, queue: queue, finished: finished)))
            }
        }
        var total = 0
        for reply in try redis.pipeline(commands) {
            if let error = reply.error { throw error }
            total += reply.int ?? 0
        }
        return total
    }

    private func connectWithRetry(_ role: String) -> RedisConnection? {
        var configuration = self.configuration.redis
        configuration.clientName = "conveyor-\(role)"
        var reported = false
        while !state.isStopping {
            do {
                return try RedisConnection(configuration)
            } catch {
                if !reported {
                    logger.error("cannot connect to Redis, retrying", metadata: ["role": .string(role), "error": "\(error)"])
                    reported = true
                }
                blockingSleep(seconds: 1)
            }
        }
        return nil
    }

    private func sleep(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline, !state.isStopping { blockingSleep(seconds: 0.05) }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        do {
            try DetachedThread.start(name: name, body)
        } catch {
            // Out of threads: nothing this process can run safely; supervisors restart it.
            logger.critical("\(error)")
            fatalError("\(error)")
        }
    }
}

/// A count of running threads, shared by closures.
final class RunningCount: Sendable {
    private let count: Atomic<Int>
    init(_ initial: Int) { count = Atomic(initial) }
    func decrement() { count.subtract(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
