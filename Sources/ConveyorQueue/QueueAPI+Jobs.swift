import ConveyorJSON
import ConveyorRedis

/// Listing and managing individual jobs, as Sidekiq's Web UI does: queued jobs, the
/// scheduled/retry/dead sets, and what is running now.
extension QueueAPI {
    /// A job as listed: its raw payload (kept for exact deletes) and the parsed one.
    public struct Entry: Sendable {
        public var raw: [UInt8]
        public var payload: JobPayload?
        /// The sorted-set score as Redis printed it (empty for queued jobs).
        public var score: String

        public var jid: String { payload?.jid ?? "" }
        public var at: Double { Double(score) ?? 0 }
        /// `score-jid`, how forms name an entry (as Sidekiq does).
        public var key: String { "\(score)-\(jid)" }
        public var rawText: String { String(decoding: raw, as: UTF8.self) }

        init(raw: [UInt8], score: String = "") {
            self.raw = raw
            self.score = score
            if case .success(let payload) = JobPayload.decode(raw) { self.payload = payload }
        }
    }

    public enum SortedSet: String, Sendable, CaseIterable {
        case scheduled = "schedule"
        case retries = "retry"
        case dead = "dead"
    }

    /// Jobs of a queue, oldest (next to run) first.
    public func jobs(inQueue name: String, offset: Int, limit: Int) throws(RedisError) -> [Entry] {
        let reply = try redis.command("LRANGE", RedisKeys.queue(name), -(offset + limit), -(offset + 1))
        return (reply.array?.compactMap(\.bytes) ?? []).reversed().map { Entry(raw: $0) }
    }

    /// Entries of a sorted set: scheduled by due time, retries by next attempt, dead
    /// newest first.
    public func entries(in set: SortedSet, offset: Int, limit: Int) throws(RedisError) -> [Entry] {
        let reply = set == .dead
            ? try redis.command("ZREVRANGE", set.rawValue, offset, offset + limit - 1, "WITHSCORES")
            : try redis.command("ZRANGE", set.rawValue, offset, offset + limit - 1, "WITHSCORES")
        let items = reply.array ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { i in
            guard let raw = items[i].bytes, let score = items[i + 1].string else { return nil }
            return Entry(raw: raw, score: score)
        }
    }

    public func size(of set: SortedSet) throws(RedisError) -> Int {
        try redis.command("ZCARD", set.rawValue).int ?? 0
    }

    /// Deletes the queued job with this jid (searching the first `scanLimit` jobs).
    @discardableResult
    public func deleteJob(inQueue name: String, jid: String, scanLimit: Int = 10_000) throws(RedisError) -> Bool {
        var offset = 0
        while offset < scanLimit {
            let page = try jobs(inQueue: name, offset: offset, limit: 500)
            if page.isEmpty { return false }
            if let match = page.first(where: { $0.jid == jid }) {
                return try redis.command("LREM", RedisKeys.queue(name), 1, match.raw).int == 1
            }
            offset += page.count
        }
        return false
    }

    /// Removes every job of a queue and the queue from `queues` (Sidekiq's "Clear").
    public func clearQueue(_ name: String) throws(RedisError) {
        _ = try redis.pipeline([RedisCommand(["UNLINK", RedisKeys.queue(name)]), RedisCommand(["SREM", RedisKeys.queues, name])])
    }

    /// Removes the entry `score`/`jid` from a set; returns it if this call removed it.
    public func take(_ set: SortedSet, score: String, jid: String) throws(RedisError) -> Entry? {
        let candidates = try redis.command("ZRANGEBYSCORE", set.rawValue, score, score).array?.compactMap(\.bytes) ?? []
        for raw in candidates {
            let entry = Entry(raw: raw, score: score)
            guard entry.jid == jid else { continue }
            if try redis.command("ZREM", set.rawValue, raw).int == 1 { return entry }
        }
        return nil
    }

    @discardableResult
    public func delete(_ set: SortedSet, score: String, jid: String) throws(RedisError) -> Bool {
        try take(set, score: score, jid: jid) != nil
    }

    /// Moves a scheduled/retry/dead entry to its queue now. Like Sidekiq, a retry from the
    /// UI does not use up an attempt (`retry_count` goes down by one). Taking the entry and
    /// pushing it are one script call, so a broken connection cannot lose it.
    @discardableResult
    public func enqueueNow(_ set: SortedSet, score: String, jid: String) throws(RedisError) -> Bool {
        for entry in try candidates(set, score: score, jid: jid) {
            guard var payload = entry.payload else {
                // Not a job: it can only go (back) to the dead set.
                if set != .dead { try moveToDead(entry, from: set) }
                return false
            }
            if set != .scheduled, let count = payload.retryCount { payload.object["retry_count"] = JSONValue(count - 1) }
            payload.setTimestamp("enqueued_at", Timestamp.now())
            payload.object["at"] = nil
            let moved = try redis.evaluate(QueueScripts.enqueueNow) { command in
                command.append(3)
                command.append(set.rawValue)
                command.append(RedisKeys.queue(payload.queue))
                command.append(RedisKeys.queues)
                command.append(bytes: entry.raw)
                command.append(bytes: payload.serialized())
                command.append(payload.queue)
            }
            if moved.int == 1 { return true }
        }
        return false
    }

    /// Moves a retry entry to the dead set, trimming it, in one script call.
    @discardableResult
    public func kill(score: String, jid: String, deadMaxJobs: Int = 10_000, deadTimeout: Double = 180 * 24 * 3600) throws(RedisError) -> Bool {
        for entry in try candidates(.retries, score: score, jid: jid) {
            if try moveToDead(entry, from: .retries, deadMaxJobs: deadMaxJobs, deadTimeout: deadTimeout) { return true }
        }
        return false
    }

    /// The entries of `set` with this score and jid (normally one).
    private func candidates(_ set: SortedSet, score: String, jid: String) throws(RedisError) -> [Entry] {
        let raws = try redis.command("ZRANGEBYSCORE", set.rawValue, score, score).array?.compactMap(\.bytes) ?? []
        return raws.map { Entry(raw: $0, score: score) }.filter { $0.jid == jid }
    }

    @discardableResult
    private func moveToDead(_ entry: Entry, from set: SortedSet, deadMaxJobs: Int = 10_000, deadTimeout: Double = 180 * 24 * 3600) throws(RedisError) -> Bool {
        let now = Timestamp.now()
        return try redis.evaluate(QueueScripts.kill) { command in
            command.append(2)
            command.append(set.rawValue)
            command.append(RedisKeys.dead)
            command.append(bytes: entry.raw)
            command.append(now)
            command.append(now - deadTimeout)
            command.append(deadMaxJobs)
        }.int == 1
    }

    /// Empties a set (Sidekiq's "Delete all").
    public func clear(_ set: SortedSet) throws(RedisError) {
        try redis.command("UNLINK", set.rawValue)
    }

    /// A job running now on some process.
    public struct RunningJob: Sendable {
        public var process: String
        public var thread: String
        public var queue: String
        public var runAt: Double
        public var payload: JobPayload?
    }

    /// What every live process is running (its `<identity>:work` hash).
    public func runningJobs() throws(RedisError) -> [RunningJob] {
        let identities = try processes().map(\.identity)
        guard !identities.isEmpty else { return [] }
        let replies = try redis.pipeline(identities.map { RedisCommand(["HGETALL", RedisKeys.work($0)]) })
        var result: [RunningJob] = []
        for (identity, reply) in zip(identities, replies) {
            let fields = reply.array ?? []
            for i in stride(from: 0, to: fields.count - 1, by: 2) {
                guard let thread = fields[i].string, let bytes = fields[i + 1].bytes, case .object(let work)? = try? JSONValue.parse(bytes) else { continue }
                var payload: JobPayload?
                if let text = work["payload"]?.stringValue, case .success(let decoded) = JobPayload.decode(Array(text.utf8)) {
                    payload = decoded
                } else if case .object(let object)? = work["payload"] {
                    payload = JobPayload(object: object)
                }
                result.append(RunningJob(
                    process: identity, thread: thread, queue: work["queue"]?.stringValue ?? "",
                    runAt: work["run_at"]?.doubleValue ?? 0, payload: payload))
            }
        }
        return result.sorted { $0.runAt < $1.runAt }
    }
}
