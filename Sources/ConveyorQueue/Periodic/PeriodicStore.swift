import ConveyorJSON
import ConveyorRedis

/// Periodic jobs in Redis, whole: the one owner of their keys and scripts, used by the
/// worker's scheduler thread, `conveyor cron …` and the web.
///
/// Keys (Conveyor's own, under `conveyor:`):
/// - `conveyor:periodic:entries` HASH: name → definition JSON, written by every process that
///   schedules the entry (at start, on reload, every minute).
/// - `conveyor:periodic:seen` ZSET: name → when a process last published it (server time).
/// - `conveyor:periodic:state:<name>` HASH: `last_tick` (the last tick claimed, which only
///   moves forward), `last_enqueued_at`, `last_jid`, `paused`, and the counters `enqueued`,
///   `skipped_paused`, `skipped_duplicate`, `missed`.
/// Methods take the caller's connection: a connection belongs to one thread.
public enum PeriodicStore {
    public static let entries = "conveyor:periodic:entries"
    public static let seen = "conveyor:periodic:seen"
    public static let statePrefix = "conveyor:periodic:state:"
    /// Entries no process has published for this long are forgotten.
    public static let forgetAfter: Duration = .seconds(3600)

    public static func state(_ name: String) -> String { statePrefix + name }

    /// Writes (refreshes) these entries' definitions.
    public static func publish(_ list: [PeriodicEntry], on redis: RedisConnection) throws(RedisError) {
        guard !list.isEmpty else { return }
        try redis.evaluate(publishScript) { command in
            command.append(2)
            command.append(entries)
            command.append(seen)
            command.append(statePrefix)
            command.append(Int(forgetAfter.seconds))
            for entry in list {
                command.append(entry.name)
                command.append(bytes: entry.definition.serializedBytes())
            }
        }
    }

    /// The last claimed tick of each name (absent: never claimed), in one pipeline.
    public static func lastTicks(_ names: [String], on redis: RedisConnection) throws(RedisError) -> [String: Int64] {
        guard !names.isEmpty else { return [:] }
        let replies = try redis.pipeline(names.map { RedisCommand(["HGET", state($0), "last_tick"]) })
        var result: [String: Int64] = [:]
        for (name, reply) in zip(names, replies) {
            if let error = reply.error { throw error }
            if let text = reply.string, let tick = Int64(text) { result[name] = tick }
        }
        return result
    }

    // MARK: - Claiming a tick

    /// What the claim script did with a tick.
    public enum Outcome: Sendable, Equatable {
        case enqueued(jid: String)
        /// Another process claimed this tick (or a later one): `lastTick`.
        case taken(lastTick: Int64)
        case paused
        /// The entry is unique and its lock is held (by `heldBy`).
        case duplicate(heldBy: String)
        /// The server's clock has not reached the tick.
        case early

        /// Decodes the script's reply {outcome, server time, detail}.
        public static func decode(_ reply: RedisReply) -> (Outcome, serverTime: Double)? {
            guard case .array(let parts) = reply, parts.count == 3, let kind = parts[0].string,
                let time = parts[1].string.flatMap(Double.init)
            else { return nil }
            let detail = parts[2].string ?? ""
            switch kind {
            case "enqueued": return (.enqueued(jid: detail), time)
            case "taken": return Int64(detail).map { (.taken(lastTick: $0), time) }
            case "paused": return (.paused, time)
            case "duplicate": return (.duplicate(heldBy: detail), time)
            case "early": return (.early, time)
            default: return nil
            }
        }

        /// The tick the caller should plan from next.
        public func baseline(afterClaiming tick: Int64, previous: Int64) -> Int64 {
            switch self {
            case .enqueued, .paused, .duplicate: return tick
            case .taken(let last): return max(last, previous)
            case .early: return previous
            }
        }
    }

    /// Claims `tick` of `entry` and enqueues its job, in one script call.
    public static func claim(
        _ entry: PeriodicEntry, tick: Int64, baseline: Int64, missed: Int, now: Double, on redis: RedisConnection
    ) throws(RedisError) -> (Outcome, serverTime: Double) {
        let payload = entry.payload(tick: tick, now: now)
        let lock = UniqueLock(payload: payload)
        let reply = try redis.evaluate(claimScript) { command in
            command.append(4)
            command.append(state(entry.name))
            command.append(RedisKeys.queue(entry.queue))
            command.append(RedisKeys.queues)
            command.append(lock?.key ?? state(entry.name))
            command.append(Int(tick))
            command.append(Int(baseline))
            command.append(missed)
            command.append(bytes: payload.serialized())
            command.append(entry.queue)
            command.append(payload.jid)
            command.append(entry.unique?.lockMilliseconds(at: nil, now: now) ?? 0)
        }
        guard let decoded = Outcome.decode(reply) else {
            throw RedisError(.unexpectedReply, "the periodic claim script returned an unexpected reply")
        }
        return decoded
    }

    // MARK: - Operating

    /// Pauses (or resumes) an entry in every process; false when no process publishes it.
    public static func setPaused(_ name: String, _ paused: Bool, on redis: RedisConnection) throws(RedisError) -> Bool {
        try redis.evaluate(pauseScript) { command in
            command.append(2)
            command.append(entries)
            command.append(state(name))
            command.append(paused ? "1" : "0")
            command.append(name)
        }.int == 1
    }

    /// The entry's definition as published, if any.
    public static func entry(_ name: String, on redis: RedisConnection) throws -> PeriodicEntry? {
        guard let text = try redis.command("HGET", entries, name).bytes else { return nil }
        return try PeriodicEntry(name: name, definition: try JSONValue.parse(text))
    }

    /// Enqueues an entry's job now ("run now"), outside its schedule: the tick record is
    /// untouched. A unique entry honours its lock.
    public static func enqueueNow(_ entry: PeriodicEntry, now: Double, on redis: RedisConnection) throws(RedisError) -> UniquePush {
        let payload = entry.payload(tick: Int64(now.rounded(.down)), now: now)
        let client = QueueClient(redis: redis)
        if let unique = entry.unique { return try client.pushUnique(payload, unique: unique, now: now) }
        try client.push(payload)
        return .enqueued(jid: payload.jid)
    }
}
