import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
import Logging

/// Registers the process the way Sidekiq does (the `processes` set, the `<identity>` hash,
/// `<identity>:work`), flushes the job counters into `stat:*`, renews Conveyor's liveness
/// lease, answers quiet/stop requests from Sidekiq's Web UI, and now and then recovers the
/// working lists of processes that died.
///
/// Used by one thread at a time: the heartbeat thread, then the shutdown path after that
/// thread has returned.
final class Heartbeat: @unchecked Sendable {
    let redis: RedisConnection
    let configuration: WorkerConfiguration
    let state: WorkerState
    let logger: Logger
    let onSignal: @Sendable (String) -> Void
    private let info: [UInt8]
    private var lastRecovery = ContinuousClock.now - .seconds(3600)
    static let statsTTL = 5 * 365 * 24 * 3600

    init(redis: RedisConnection, configuration: WorkerConfiguration, state: WorkerState, logger: Logger, onSignal: @escaping @Sendable (String) -> Void) {
        self.redis = redis
        self.configuration = configuration
        self.state = state
        self.logger = logger
        self.onSignal = onSignal
        var info = JSONObject()
        info["hostname"] = .string(ProcessFacts.hostname)
        info["started_at"] = Timestamp.json(state.startedAt)
        info["pid"] = JSONValue(ProcessFacts.pid)
        info["tag"] = .string(configuration.tag)
        info["concurrency"] = JSONValue(configuration.concurrency)
        info["queues"] = .array(configuration.queues.sidekiqQueueList.map { .string($0) })
        info["weights"] = .array([.object(configuration.queues.sidekiqWeights)])
        info["labels"] = .array(configuration.labels.map { .string($0) })
        info["identity"] = .string(state.identity)
        info["version"] = .string("conveyor \(ConveyorVersion.string)")
        info["embedded"] = false
        info["capsules"] = configuration.queues.sidekiqCapsules(concurrency: configuration.concurrency)
        self.info = info.serializedBytes()
    }

    /// One beat. Counts not written because Redis failed are kept for the next one.
    func beat() throws(RedisError) {
        let processed = state.processedSinceFlush.exchange(0, ordering: .relaxed)
        let failed = state.failedSinceFlush.exchange(0, ordering: .relaxed)
        do {
            try beat(processed: processed, failed: failed)
            state.recordBeat()
        } catch {
            state.processedSinceFlush.add(processed, ordering: .relaxed)
            state.failedSinceFlush.add(failed, ordering: .relaxed)
            throw error
        }
    }

    private func beat(processed: Int, failed: Int) throws(RedisError) {
        let identity = state.identity
        let now = Timestamp.now()
        var commands: [RedisCommand] = []
        func add(_ args: any RedisArgumentConvertible...) { commands.append(RedisCommand(args)) }
        if processed > 0 || failed > 0 {
            let day = Timestamp.utcDay(now)
            add("INCRBY", RedisKeys.processed, processed)
            add("INCRBY", RedisKeys.processedOn(day), processed)
            add("EXPIRE", RedisKeys.processedOn(day), Self.statsTTL)
            add("INCRBY", RedisKeys.failed, failed)
            add("INCRBY", RedisKeys.failedOn(day), failed)
            add("EXPIRE", RedisKeys.failedOn(day), Self.statsTTL)
        }
        let work = state.snapshot()
        add("UNLINK", RedisKeys.work(identity), RedisKeys.workersV6(identity))
        if !work.isEmpty {
            for key in [RedisKeys.work(identity), RedisKeys.workersV6(identity)] {
                var hset = RedisCommand("HSET")
                hset.append(key)
                for (index, slot) in work {
                    hset.append("p\(index)")
                    var entry = JSONObject()
                    entry["queue"] = .string(slot.queue)
                    entry["payload"] = .string(String(decoding: slot.payload, as: UTF8.self))
                    entry["run_at"] = JSONValue(slot.runAt)
                    hset.append(bytes: entry.serializedBytes())
                }
                commands.append(hset)
                add("EXPIRE", key, 60)
            }
        }
        let pingStart = ContinuousClock.now
        try redis.command("PING")
        let rtt = Int((ContinuousClock.now - pingStart).seconds * 1_000_000)
        add("SADD", RedisKeys.processes, identity)
        var hash = RedisCommand("HSET")
        hash.append(identity)
        hash.append("info"); hash.append(bytes: info)
        hash.append("busy"); hash.append(work.count)
        hash.append("beat"); hash.append(now)
        hash.append("quiet"); hash.append(state.isQuiet ? "true" : "false")
        hash.append("rss"); hash.append(ProcessFacts.residentKilobytes())
        hash.append("rtt_us"); hash.append(rtt)
        hash.append("concurrency"); hash.append(configuration.concurrency)
        commands.append(hash)
        add("EXPIRE", identity, 60)
        var lease = RedisCommand("SET")
        lease.append(RedisKeys.alive(identity)); lease.append(String(ProcessFacts.pid))
        lease.append("PX"); lease.append(Int(configuration.leaseDuration.seconds * 1000))
        commands.append(lease)
        var registry = RedisCommand("HSET")
        registry.append(RedisKeys.workingRegistry)
        for processor in 0..<configuration.concurrency {
            for (key, owner) in Processor.registryEntries(identity: identity, processor: processor, queues: configuration.queues.names) {
                registry.append(key)
                registry.append(owner)
            }
        }
        commands.append(registry)
        add("RPOP", RedisKeys.signals(identity), 10)
        let replies = try redis.pipeline(commands)
        for reply in replies { if let error = reply.error { throw error } }
        for signal in replies.last?.strings ?? [] {
            logger.notice("received \(signal) from Redis", metadata: ["identity": .string(identity)])
            onSignal(signal)
        }
        if ContinuousClock.now - lastRecovery >= configuration.recoveryInterval {
            lastRecovery = .now
            try recoverOrphans()
        }
    }

    /// Pushes back the jobs of processes whose lease lapsed. One process per interval does
    /// the scan (a short lock), the script makes each move atomic.
    @discardableResult
    func recoverOrphans() throws(RedisError) -> Int {
        var lock = RedisCommand("SET")
        lock.append(RedisKeys.recoveryLock)
        lock.append(state.identity)
        lock.append("NX")
        lock.append("PX")
        lock.append(max(1000, Int(configuration.recoveryInterval.seconds * 1000) - 1000))
        guard try redis.send(lock) != .null else { return 0 }
        let moved = try redis.evaluate(QueueScripts.recover, keys: [RedisKeys.workingRegistry, RedisKeys.queues]).int ?? 0
        if moved > 0 {
            logger.warning("recovered jobs of dead processes", metadata: ["count": "\(moved)"])
        }
        return moved
    }

    /// Removes the process from Sidekiq's view and drops its lease and registry entries.
    func deregister(processors: Range<Int>) throws(RedisError) {
        let identity = state.identity
        var commands = [
            RedisCommand(["SREM", RedisKeys.processes, identity]),
            RedisCommand(["UNLINK", identity, RedisKeys.work(identity), RedisKeys.workersV6(identity), RedisKeys.alive(identity)]),
        ]
        var hdel = RedisCommand("HDEL")
        hdel.append(RedisKeys.workingRegistry)
        for processor in processors {
            for (key, _) in Processor.registryEntries(identity: identity, processor: processor, queues: configuration.queues.names) {
                hdel.append(key)
            }
        }
        if hdel.argumentCount > 2 { commands.append(hdel) }
        _ = try redis.pipeline(commands)
    }
}
