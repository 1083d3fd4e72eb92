import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
import Logging

/// Registers the process the way Sidekiq does (the `processes` set, the `<identity>` hash,
/// `<identity>:work`), flushes the job counters into `stat:*`, renews the reliable-fetch
/// registration and lease, and answers quiet/stop requests from Sidekiq's Web UI.
///
/// Used by one thread at a time: the maintenance thread, then the shutdown path after
/// that thread has returned.
final class Heartbeat: @unchecked Sendable {
    let redis: RedisConnection
    let configuration: WorkerConfiguration
    let state: WorkerState
    let fetch: ReliableFetch
    let logger: Logger
    let onSignal: @Sendable (String) -> Void
    private let info: [UInt8]
    /// Totals already written to `stat:*`.
    private var flushedProcessed = 0
    private var flushedFailed = 0
    static let statsTTL = 5 * 365 * 24 * 3600

    init(redis: RedisConnection, configuration: WorkerConfiguration, state: WorkerState, fetch: ReliableFetch, logger: Logger, onSignal: @escaping @Sendable (String) -> Void) {
        self.redis = redis
        self.configuration = configuration
        self.state = state
        self.fetch = fetch
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

    /// One beat. Counts not written because Redis failed are written by the next one.
    func beat() throws(RedisError) {
        let processed = state.processedTotal, failed = state.failedTotal
        try beat(processed: processed - flushedProcessed, failed: failed - flushedFailed)
        flushedProcessed = processed
        flushedFailed = failed
        state.recordBeat()
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
        commands += fetch.registrationCommands(lease: configuration.leaseDuration)
        add("RPOP", RedisKeys.signals(identity), 10)
        let replies = try redis.pipeline(commands)
        if let error = replies.lazy.compactMap(\.error).first {
            if error.isOutOfMemory { try keepLeaseThroughOutOfMemory(error) }
            throw error
        }
        for signal in replies.last?.strings ?? [] {
            logger.notice("received \(signal) from Redis", metadata: ["identity": .string(identity)])
            onSignal(signal)
        }
    }

    /// Redis at `maxmemory` with `noeviction` refuses SET and HSET, so the lease would lapse
    /// and another process (or this one's rescuer, once memory frees) would push back the
    /// jobs this process is running. PEXPIRE is allowed at the memory limit: the lease is
    /// extended with it; the stats and process info wait for the next beat.
    private func keepLeaseThroughOutOfMemory(_ error: RedisError) throws(RedisError) {
        let extended = try redis.command("PEXPIRE", ReliableFetch.alive(state.identity), max(1, Int(configuration.leaseDuration.seconds * 1000)))
        logger.warning(
            "Redis is out of memory (maxmemory with noeviction): lease extended, stats and process info not written",
            metadata: ["error": .string(error.message), "lease_extended": .string(extended.int == 1 ? "true" : "false")])
    }

    /// Removes the process from Sidekiq's view and drops its lease and registry entries
    /// (after `ReliableFetch.releaseAll` pushed back what was left).
    func deregister() throws(RedisError) {
        let identity = state.identity
        let commands = [
            RedisCommand(["SREM", RedisKeys.processes, identity]),
            RedisCommand(["UNLINK", identity, RedisKeys.work(identity), RedisKeys.workersV6(identity)]),
        ] + fetch.deregistrationCommands()
        for reply in try redis.pipeline(commands) { if let error = reply.error { throw error } }
    }
}
