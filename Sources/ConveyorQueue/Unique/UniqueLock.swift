import ConveyorJSON
import ConveyorRedis

/// The lock of a unique job: `conveyor:unique:<digest>`, where the digest is the SHA-1 of
/// the job's class, queue and args (Sidekiq Enterprise's notion of "the same job"), holding
/// the jid of the job that took it, for at most the TTL. Owns the lock keys and their
/// scripts: the push that takes the lock and enqueues in one step, and the release, which
/// removes the lock only while it is still this job's (after a TTL lapse another job may
/// hold it).
public struct UniqueLock: Sendable, Hashable {
    public static let prefix = "conveyor:unique:"

    public let key: String
    public let jid: String
    public let until: UniqueOptions.Until

    public init(key: String, jid: String, until: UniqueOptions.Until) {
        self.key = key
        self.jid = jid
        self.until = until
    }

    /// The lock a payload holds, when it carries `unique_for`; nil otherwise (one field
    /// lookup: what ordinary jobs pay).
    public init?(payload: JobPayload) {
        guard payload.object["unique_for"] != nil, let options = UniqueOptions(payload: payload) else { return nil }
        let digest = payload.object["unique_digest"]?.stringValue ?? Self.digest(className: payload.className, queue: payload.queue, args: payload.args)
        self.init(key: Self.prefix + digest, jid: payload.jid, until: options.until)
    }

    /// SHA-1 hex of class, queue and the args' JSON, separated by NUL bytes.
    public static func digest(className: String, queue: String, args: [JSONValue]) -> String {
        var bytes = Array(className.utf8)
        bytes.append(0)
        bytes += queue.utf8
        bytes.append(0)
        bytes += JSONValue.array(args).serializedBytes()
        return SHA1.hexDigest(bytes)
    }

    /// Releases the lock if this job still holds it; true when it did.
    @discardableResult
    public func release(on redis: RedisConnection) throws(RedisError) -> Bool {
        try redis.evaluate(Self.releaseScript) { command in
            command.append(1)
            command.append(key)
            command.append(jid)
        }.int == 1
    }

    // MARK: - Scripts

    /// KEYS: lock, target (queue or schedule set), queues set. ARGV: jid, TTL in ms,
    /// payload, 'queue' | 'schedule', queue name, score (schedule only).
    /// Takes the lock and enqueues, or neither; returns {1} or {0, holder jid, ms left}.
    /// Prevents: two concurrent pushes both enqueuing (check-then-push races), and a lock
    /// taken for a job that never got enqueued.
    static let pushScript = RedisScript(
        """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
          return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}
        end
        if ARGV[4] == 'schedule' then
          redis.call('ZADD', KEYS[2], ARGV[6], ARGV[3])
        else
          redis.call('LPUSH', KEYS[2], ARGV[3])
          redis.call('SADD', KEYS[3], ARGV[5])
        end
        return {1}
        """)

    /// KEYS: lock. ARGV: jid. Deletes the lock only if it holds this jid.
    /// Prevents: a job whose lock lapsed releasing the lock a newer copy took since.
    static let releaseScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          return 1
        end
        return 0
        """)
}
