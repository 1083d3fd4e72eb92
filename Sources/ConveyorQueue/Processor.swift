import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
import Logging

/// One processor thread: fetches batches with reliable fetch, runs each job, records
/// failures, and acknowledges finished batches in the same Lua call that fetches the
/// next one, so a deep queue costs well under one Redis round trip per job.
final class Processor {
    let index: Int
    let configuration: WorkerConfiguration
    let registry: JobRegistry
    let state: WorkerState
    let logger: Logger
    let redis: RedisConnection
    private let connections: ConnectionCache
    private var random = SystemRandomNumberGenerator()
    /// Per configured queue: its key, and per generation this processor's working list.
    private let queueKeys: [String]
    let workingLists: [[String]]
    /// The generation the next fetch fills; flips after every fetched batch.
    private var generation = 0
    /// Working lists whose jobs all finished; deleted by the next fetch.
    private var pendingAcks: [String] = []
    /// Smoothed job duration, which sizes the next batch.
    private var averageJobSeconds = 0.001
    private var idleCycles = 0
    private let outage: OutageLog

    struct Batch {
        var queueIndex: Int
        var list: String
        var jobs: [[UInt8]]
    }

    init(index: Int, configuration: WorkerConfiguration, registry: JobRegistry, state: WorkerState, logger: Logger) throws(RedisError) {
        self.index = index
        self.configuration = configuration
        self.registry = registry
        self.state = state
        self.logger = logger
        var redisConfiguration = configuration.redis
        redisConfiguration.clientName = "conveyor-processor"
        redis = try RedisConnection(redisConfiguration)
        connections = ConnectionCache(configuration: configuration.postgres)
        queueKeys = configuration.queues.names.map(RedisKeys.queue)
        workingLists = (0..<2).map { generation in
            configuration.queues.names.map {
                RedisKeys.working(identity: state.identity, processor: index, generation: generation, queue: $0)
            }
        }
        outage = OutageLog(logger: logger, what: "Redis")
    }

    /// Registers this processor's working lists so another process can recover them.
    static func registryEntries(identity: String, processor: Int, queues: [String]) -> [(String, String)] {
        (0..<2).flatMap { generation in
            queues.map { (RedisKeys.working(identity: identity, processor: processor, generation: generation, queue: $0), "\(identity)\t\($0)") }
        }
    }

    func run() {
        defer { connections.close() }
        while !state.isQuiet {
            do {
                guard let batch = try fetch() else { continue }
                outage.recovered()
                try process(batch)
            } catch {
                outage.failed(error)
                pause(outage.backoff)
            }
        }
        // Acknowledge what finished before leaving, so a clean stop leaves no duplicates.
        while !pendingAcks.isEmpty {
            var del = RedisCommand("DEL")
            for key in pendingAcks { del.append(key) }
            do {
                try redis.send(del)
                pendingAcks.removeAll()
            } catch {
                if state.isStopping { break }
                pause(.milliseconds(500))
            }
        }
    }

    private func pause(_ duration: Duration) {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline, !state.isQuiet {
            blockingSleep(seconds: 0.05)
        }
    }

    // MARK: - Fetching

    private var batchLimit: Int {
        let fit = Int(configuration.fetchBatchTarget.seconds / max(averageJobSeconds, 0.000_001))
        return max(1, min(configuration.maxFetchBatch, fit))
    }

    func fetch() throws(RedisError) -> Batch? {
        let order = configuration.queues.order(using: &random)
        let acks = pendingAcks
        let limit = batchLimit
        let lists = workingLists[generation]
        let reply = try redis.evaluate(QueueScripts.fetch) { command in
            command.append(acks.count + order.count * 2)
            for key in acks { command.append(key) }
            for i in order {
                command.append(queueKeys[i])
                command.append(lists[i])
            }
            command.append(acks.count)
            command.append(limit)
        }
        // The script ran: acknowledged lists are gone even if what follows fails.
        pendingAcks.removeAll(keepingCapacity: true)
        if case .array(let parts) = reply, parts.count == 2, let key = parts[0].string,
            let queueIndex = queueKeys.firstIndex(of: key), case .array(let items) = parts[1]
        {
            idleCycles = 0
            generation ^= 1
            return Batch(queueIndex: queueIndex, list: lists[queueIndex], jobs: items.compactMap(\.bytes))
        }
        // Every queue is empty: block on one of them. Idle processors spread over the
        // queues, so a job pushed to any queue is picked up at once.
        let queueIndex = (index + idleCycles) % queueKeys.count
        idleCycles &+= 1
        var blmove = RedisCommand("BLMOVE")
        blmove.append(queueKeys[queueIndex])
        blmove.append(lists[queueIndex])
        blmove.append("RIGHT")
        blmove.append("LEFT")
        blmove.append(configuration.idleBlock.seconds)
        let moved = try redis.sendBlocking(blmove, blockFor: configuration.idleBlock)
        guard let job = moved.bytes else { return nil }
        generation ^= 1
        return Batch(queueIndex: queueIndex, list: lists[queueIndex], jobs: [job])
    }

    // MARK: - Running a batch

    func process(_ batch: Batch) throws(RedisError) {
        let list = batch.list
        let queue = configuration.queues.names[batch.queueIndex]
        var finished = 0
        state.processors[index].batchProgress.store(0, ordering: .relaxed)
        for raw in batch.jobs {
            if state.isQuiet {
                // Jobs fetched but not started go back to the front of their queue.
                try requeue(list: list, queue: queue, finished: finished)
                return
            }
            if try execute(raw, queue: queue, list: list) {
                finished += 1
                state.processors[index].batchProgress.store(finished, ordering: .relaxed)
            }
        }
        pendingAcks.append(list)
    }

    func requeue(list: String, queue: String, finished: Int) throws(RedisError) {
        let count = try redis.evaluate(QueueScripts.requeue, QueueScripts.requeueArguments(list: list, queue: queue, finished: finished))
        if let count = count.int, count > 0 {
            logger.info("pushed unstarted jobs back", metadata: ["queue": "\(queue)", "count": "\(count)"])
        }
    }

    /// Runs one job. True when it succeeded (it stays in the working list until the batch
    /// is acknowledged); false when it failed and was moved to retry/dead atomically.
    private func execute(_ raw: [UInt8], queue: String, list: String) throws(RedisError) -> Bool {
        let payload: JobPayload
        switch JobPayload.decode(raw) {
        case .failure(let invalid):
            try killInvalid(raw, invalid: invalid, queue: queue, list: list)
            return false
        case .success(let decoded):
            payload = decoded
        }
        let className = payload.className
        state.processors[index].work.withLock {
            $0 = WorkSlot(queue: queue, payload: raw, runAt: Int(Timestamp.now()), workingList: list)
        }
        let start = ContinuousClock.now
        var failure: (any Error)?
        if let handler = registry.handler(for: className) {
            let stateRef = state
            let context = JobContext(
                payload: payload, queue: queue, logger: logger, redis: redis, connections: connections,
                stopRequested: { stateRef.isStopping })
            do {
                try handler(context, payload.args)
            } catch {
                failure = error
            }
        } else {
            failure = JobError(
                errorClass: "NameError",
                message: "uninitialized constant \(className): no job class '\(className)' is registered in this worker")
        }
        let elapsed = (ContinuousClock.now - start).seconds
        state.processors[index].work.withLock { $0 = nil }
        state.processedSinceFlush.add(1, ordering: .relaxed)
        state.processedTotal.add(1, ordering: .relaxed)
        averageJobSeconds += (elapsed - averageJobSeconds) * 0.2
        configuration.observer?.jobFinished(queue: queue, className: className, seconds: elapsed, failed: failure != nil)
        let elapsedText = Self.formatSeconds(elapsed)
        guard let failure else {
            logger.info("done", metadata: ["jid": .string(payload.jid), "class": .string(className), "queue": .string(queue), "elapsed": .string(elapsedText)])
            return true
        }
        state.failedSinceFlush.add(1, ordering: .relaxed)
        state.failedTotal.add(1, ordering: .relaxed)
        let errorClass = (failure as? any JobFailureDescribing)?.jobErrorClass ?? String(describing: type(of: failure))
        let message = String(describing: failure)
        logger.warning("fail", metadata: [
            "jid": .string(payload.jid), "class": .string(className), "queue": .string(queue), "elapsed": .string(elapsedText),
            "error_class": .string(errorClass), "error": .string(message),
        ])
        let outcome = configuration.retryPolicy.outcome(
            for: payload, queue: queue, errorClass: errorClass, errorMessage: message, now: Timestamp.now(), random: &random)
        try recordFailure(raw: raw, outcome: outcome, list: list)
        return false
    }

    /// `0.000123`: seconds with microseconds, without Foundation's formatter on the hot path.
    static func formatSeconds(_ seconds: Double) -> String {
        let micros = Int((max(seconds, 0) * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    private func killInvalid(_ raw: [UInt8], invalid: JobPayload.Invalid, queue: String, list: String) throws(RedisError) {
        logger.error("invalid payload sent to the dead set", metadata: ["queue": .string(queue), "reason": .string(invalid.reason)])
        var wrapper = JobPayload(className: "Conveyor::InvalidPayload", args: [.string(String(decoding: raw, as: UTF8.self))], queue: queue, retry: .disabled)
        wrapper.object["error_class"] = .string(invalid.errorClass)
        wrapper.object["error_message"] = .string(invalid.reason)
        wrapper.setTimestamp("failed_at", Timestamp.now())
        try recordFailure(raw: raw, outcome: .dead(wrapper), list: list)
    }

    /// Moves the job from the working list to retry/dead in one script call, retrying
    /// through a Redis outage: acknowledging the batch before this succeeds would lose it.
    private func recordFailure(raw: [UInt8], outcome: RetryPolicy.Outcome, list: String) throws(RedisError) {
        let now = Timestamp.now()
        let (target, payload, score, mode): (String, [UInt8], Double, String)
        switch outcome {
        case .retry(let p, let at): (target, payload, score, mode) = (RedisKeys.retry, p.serialized(), at, "retry")
        case .dead(let p): (target, payload, score, mode) = (RedisKeys.dead, p.serialized(), now, "dead")
        case .discard: (target, payload, score, mode) = (RedisKeys.retry, [], 0, "drop")
        }
        let cutoff = now - configuration.deadTimeout.seconds
        let maxDead = configuration.deadMaxJobs
        while true {
            do {
                try redis.evaluate(QueueScripts.fail) { command in
                    command.append(2)
                    command.append(list)
                    command.append(target)
                    command.append(bytes: raw)
                    command.append(bytes: payload)
                    command.append(score)
                    command.append(mode)
                    command.append(cutoff)
                    command.append(maxDead)
                }
                return
            } catch where error.isConnectionProblem && !state.isStopping {
                outage.failed(error)
                pause(outage.backoff)
            }
        }
    }
}

@available(*, unavailable)
extension Processor: Sendable {}
