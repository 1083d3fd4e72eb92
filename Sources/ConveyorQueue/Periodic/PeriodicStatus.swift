import ConveyorJSON
import ConveyorRedis

/// One periodic entry as `conveyor cron list`, the web's Periodic page and `/metrics` show
/// it: its published definition, its shared state and its next tick.
public struct PeriodicStatus: Sendable {
    public let name: String
    /// Nil when the stored definition cannot be read (its reason in `problem`).
    public let entry: PeriodicEntry?
    public let problem: String?
    public let paused: Bool
    public let lastTick: Int64?
    public let lastEnqueuedAt: Double?
    public let lastJid: String?
    public let nextTick: Int64?
    /// When a process last published the entry (server time).
    public let seenAt: Double?
    public let enqueued: Int
    public let skippedPaused: Int
    public let skippedDuplicate: Int
    public let missed: Int

    /// `active`, `paused` (by `cron pause`) or `inactive` (`active: false` in the file).
    public var state: String {
        if entry?.active == false { return "inactive" }
        return paused ? "paused" : "active"
    }

    /// True when no process has published the entry for three refresh periods: no running
    /// worker schedules it any more.
    public func isStale(now: Double) -> Bool { (seenAt ?? 0) < now - 180 }

    /// Every published entry, by name.
    public static func all(on redis: RedisConnection, now: Double) throws(RedisError) -> [PeriodicStatus] {
        let definitions = try redis.command("HGETALL", PeriodicStore.entries).array ?? []
        var names: [String] = [], texts: [[UInt8]] = []
        for index in stride(from: 0, to: definitions.count - 1, by: 2) {
            guard let name = definitions[index].string, let text = definitions[index + 1].bytes else { continue }
            names.append(name)
            texts.append(text)
        }
        var commands = names.map { RedisCommand(["HGETALL", PeriodicStore.state($0)]) }
        commands += names.map { RedisCommand(["ZSCORE", PeriodicStore.seen, $0]) }
        let replies = try redis.pipeline(commands)
        var result: [PeriodicStatus] = []
        for (i, name) in names.enumerated() {
            if let error = replies[i].error { throw error }
            var fields: [String: String] = [:]
            let flat = replies[i].array ?? []
            for j in stride(from: 0, to: flat.count - 1, by: 2) {
                if let key = flat[j].string { fields[key] = flat[j + 1].string }
            }
            var entry: PeriodicEntry?
            var problem: String?
            do {
                entry = try PeriodicEntry(name: name, definition: try JSONValue.parse(texts[i]))
            } catch {
                problem = "\(error)"
            }
            result.append(PeriodicStatus(
                name: name, entry: entry, problem: problem, paused: fields["paused"] == "1",
                lastTick: fields["last_tick"].flatMap { Int64($0) }, lastEnqueuedAt: fields["last_enqueued_at"].flatMap { Double($0) },
                lastJid: fields["last_jid"], nextTick: entry?.cron.nextTick(after: now),
                seenAt: replies[names.count + i].string.flatMap { Double($0) },
                enqueued: fields["enqueued"].flatMap { Int($0) } ?? 0, skippedPaused: fields["skipped_paused"].flatMap { Int($0) } ?? 0,
                skippedDuplicate: fields["skipped_duplicate"].flatMap { Int($0) } ?? 0, missed: fields["missed"].flatMap { Int($0) } ?? 0))
        }
        return result.sorted { $0.name < $1.name }
    }

    /// The entry as JSON (for `--json` and `/api/periodic`).
    public var json: JSONValue {
        var object = JSONObject()
        object["name"] = .string(name)
        object["cron"] = entry.map { JSONValue.string($0.cron.source) } ?? .null
        object["class"] = entry.map { JSONValue.string($0.className) } ?? .null
        object["queue"] = entry.map { JSONValue.string($0.queue) } ?? .null
        object["args"] = entry.map { JSONValue.array($0.args) } ?? .null
        object["description"] = entry?.description.map { JSONValue.string($0) } ?? .null
        object["state"] = .string(state)
        object["active"] = .bool(state == "active")
        object["next_run"] = nextTick.map { JSONValue(Double($0)) } ?? .null
        object["last_run"] = lastTick.map { JSONValue(Double($0)) } ?? .null
        object["last_enqueued_at"] = lastEnqueuedAt.map { JSONValue($0) } ?? .null
        object["last_jid"] = lastJid.map { JSONValue.string($0) } ?? .null
        object["seen_at"] = seenAt.map { JSONValue($0) } ?? .null
        object["enqueued"] = JSONValue(enqueued)
        object["skipped"] = ["paused": JSONValue(skippedPaused), "duplicate": JSONValue(skippedDuplicate), "missed": JSONValue(missed)]
        if let problem { object["problem"] = .string(problem) }
        return .object(object)
    }
}
