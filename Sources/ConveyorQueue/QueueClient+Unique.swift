import ConveyorJSON
import ConveyorRedis

/// What a unique push did.
public enum UniquePush: Sendable, Equatable {
    case enqueued(jid: String)
    /// The lock is held by `heldBy` (the jid of the pending copy) for `expiresIn` more seconds.
    case duplicate(heldBy: String, expiresIn: Double)

    public var jid: String? {
        if case .enqueued(let jid) = self { return jid }
        return nil
    }
}

extension QueueClient {
    /// Enqueues a unique job (Sidekiq Enterprise's `unique_for`): unless a job of the same
    /// class, queue and args holds the lock, takes it and enqueues (now, or at `at`) in one
    /// script call; otherwise enqueues nothing and says who holds it.
    @discardableResult
    public func enqueueUnique(
        _ className: String, args: [JSONValue] = [], queue: String = "default", retry: RetrySetting = .enabled,
        at: Double? = nil, unique: UniqueOptions
    ) throws(RedisError) -> UniquePush {
        try pushUnique(JobPayload(className: className, args: args, queue: queue, retry: retry), unique: unique, at: at)
    }

    /// `pushUnique` for a payload of your own; `unique_for`, `unique_until` and
    /// `unique_digest` are written into it.
    public func pushUnique(_ payload: JobPayload, unique: UniqueOptions, at: Double? = nil, now: Double = Timestamp.now()) throws(RedisError) -> UniquePush {
        var payload = payload
        unique.apply(to: &payload)
        let digest = UniqueLock.digest(className: payload.className, queue: payload.queue, args: payload.args)
        payload.object["unique_digest"] = .string(digest)
        let scheduled = at.map { $0 > now } ?? false
        payload.object["at"] = nil
        payload.object["enqueued_at"] = scheduled ? nil : Timestamp.json(now)
        let reply = try redis.evaluate(UniqueLock.pushScript) { command in
            command.append(3)
            command.append(UniqueLock.prefix + digest)
            command.append(scheduled ? RedisKeys.schedule : RedisKeys.queue(payload.queue))
            command.append(RedisKeys.queues)
            command.append(payload.jid)
            command.append(unique.lockMilliseconds(at: at, now: now))
            command.append(bytes: payload.serialized())
            command.append(scheduled ? "schedule" : "queue")
            command.append(payload.queue)
            command.append(at ?? now)
        }
        guard case .array(let parts) = reply, let first = parts.first?.int else {
            throw RedisError(.unexpectedReply, "the unique push script returned an unexpected reply")
        }
        if first == 1 { return .enqueued(jid: payload.jid) }
        let holder = parts.count > 1 ? parts[1].string ?? "" : ""
        let left = parts.count > 2 ? Double(parts[2].int ?? 0) / 1000 : 0
        return .duplicate(heldBy: holder, expiresIn: max(0, left))
    }
}
