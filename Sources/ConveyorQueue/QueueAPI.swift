import ConveyorJSON
import ConveyorRedis

/// The read model of the queues, shared by `conveyor stats` and the web dashboard: the
/// same numbers Sidekiq's `Sidekiq::Stats`, `Queue` and `ProcessSet` report.
public struct QueueAPI {
    public let redis: RedisConnection

    public init(redis: RedisConnection) { self.redis = redis }

    public struct QueueSummary: Sendable, Equatable {
        public var name: String
        public var size: Int
        /// Seconds the oldest job has waited (0 when empty).
        public var latency: Double
    }

    public struct Stats: Sendable {
        public var processed: Int
        public var failed: Int
        public var scheduled: Int
        public var retries: Int
        public var dead: Int
        public var processes: Int
        public var busy: Int
        public var enqueued: Int
        public var queues: [QueueSummary]
    }

    public struct ProcessSummary: Sendable {
        public var identity: String
        public var info: JSONObject
        public var busy: Int
        public var beat: Double
        public var quiet: Bool
        public var rss: Int
        public var concurrency: Int
        public var hostname: String { info["hostname"]?.stringValue ?? "" }
        public var pid: Int { info["pid"]?.intValue ?? 0 }
        public var queues: [String] { info["queues"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        public var tag: String { info["tag"]?.stringValue ?? "" }
        public var startedAt: Double { Timestamp.seconds(from: info["started_at"]) ?? 0 }
    }

    public func stats() throws(RedisError) -> Stats {
        let fast = try redis.pipeline([
            RedisCommand(["GET", RedisKeys.processed]), RedisCommand(["GET", RedisKeys.failed]),
            RedisCommand(["ZCARD", RedisKeys.schedule]), RedisCommand(["ZCARD", RedisKeys.retry]),
            RedisCommand(["ZCARD", RedisKeys.dead]),
        ])
        let queues = try self.queues()
        let processes = try self.processes()
        return Stats(
            processed: fast[0].int ?? 0, failed: fast[1].int ?? 0, scheduled: fast[2].int ?? 0,
            retries: fast[3].int ?? 0, dead: fast[4].int ?? 0, processes: processes.count,
            busy: processes.reduce(0) { $0 + $1.busy }, enqueued: queues.reduce(0) { $0 + $1.size }, queues: queues)
    }

    /// Every queue in the `queues` set with its size and latency, by name.
    public func queues() throws(RedisError) -> [QueueSummary] {
        let names = try redis.command("SMEMBERS", RedisKeys.queues).strings.sorted()
        guard !names.isEmpty else { return [] }
        var commands: [RedisCommand] = []
        for name in names {
            commands.append(RedisCommand(["LLEN", RedisKeys.queue(name)]))
            commands.append(RedisCommand(["LINDEX", RedisKeys.queue(name), -1]))
        }
        let replies = try redis.pipeline(commands)
        let now = Timestamp.now()
        return names.enumerated().map { offset, name in
            let size = replies[offset * 2].int ?? 0
            return QueueSummary(name: name, size: size, latency: Self.latency(of: replies[offset * 2 + 1].bytes, now: now))
        }
    }

    public func queue(_ name: String) throws(RedisError) -> QueueSummary {
        let replies = try redis.pipeline([
            RedisCommand(["LLEN", RedisKeys.queue(name)]), RedisCommand(["LINDEX", RedisKeys.queue(name), -1]),
        ])
        return QueueSummary(name: name, size: replies[0].int ?? 0, latency: Self.latency(of: replies[1].bytes, now: Timestamp.now()))
    }

    /// `now - (enqueued_at || created_at)` of the oldest job, 0 if unknown.
    static func latency(of raw: [UInt8]?, now: Double) -> Double {
        guard let raw, case .success(let payload) = JobPayload.decode(raw) else { return 0 }
        guard let at = payload.enqueuedAt ?? payload.createdAt else { return 0 }
        return max(0, now - at)
    }

    /// Live processes (those whose hash has not expired); stale members of `processes`
    /// are removed, as Sidekiq's ProcessSet does.
    public func processes() throws(RedisError) -> [ProcessSummary] {
        let identities = try redis.command("SMEMBERS", RedisKeys.processes).strings.sorted()
        guard !identities.isEmpty else { return [] }
        let replies = try redis.pipeline(identities.map {
            RedisCommand(["HMGET", $0, "info", "busy", "beat", "quiet", "rss", "concurrency"])
        })
        var result: [ProcessSummary] = []
        var stale: [String] = []
        for (identity, reply) in zip(identities, replies) {
            let fields = reply.array ?? []
            guard fields.count == 6, let infoBytes = fields[0].bytes, case .object(let info)? = try? JSONValue.parse(infoBytes) else {
                stale.append(identity)
                continue
            }
            result.append(ProcessSummary(
                identity: identity, info: info, busy: fields[1].int ?? 0, beat: fields[2].double ?? 0,
                quiet: fields[3].string == "true", rss: fields[4].int ?? 0,
                concurrency: fields[5].int ?? info["concurrency"]?.intValue ?? 0))
        }
        if !stale.isEmpty {
            var srem = RedisCommand("SREM")
            srem.append(RedisKeys.processes)
            for identity in stale { srem.append(identity) }
            try redis.send(srem)
        }
        return result
    }

    /// Asks a process to quiet (`TSTP`) or stop (`TERM`), as Sidekiq's Web UI does.
    public func signal(process identity: String, _ signal: String) throws(RedisError) {
        _ = try redis.pipeline([
            RedisCommand(["LPUSH", RedisKeys.signals(identity), signal]),
            RedisCommand(["EXPIRE", RedisKeys.signals(identity), 60]),
        ])
    }
}
