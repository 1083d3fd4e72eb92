import ConveyorRedis

/// The Lua scripts that make the queue's own multi-key moves atomic (reliable fetch's are
/// in `ReliableFetch+Scripts.swift`). Each is loaded once per connection and run with
/// EVALSHA; key prefixes come in as arguments.
enum QueueScripts {
    /// KEYS: the sorted set, queues set. ARGV: queue key prefix, then (member, new payload,
    /// queue) triples. Moves due jobs to their queues; only jobs this call removed are
    /// pushed. Prevents: processes polling at once pushing a job twice.
    static let enqueueDue = RedisScript(
        """
        local moved = 0
        for i = 2, #ARGV, 3 do
          if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
            redis.call('LPUSH', ARGV[1] .. ARGV[i + 2], ARGV[i + 1])
            redis.call('SADD', KEYS[2], ARGV[i + 2])
            moved = moved + 1
          end
        end
        return moved
        """)

    /// KEYS: source set, dead set. ARGV: raw entry, score, dead cutoff score, dead max
    /// size. Moves the entry to dead and trims dead, if this call removed it.
    /// Prevents: an entry lost (removed, never added) when the connection breaks between
    /// the two steps.
    static let kill = RedisScript(
        """
        if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
        redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
        return 1
        """)

    /// KEYS: source set, queue key, queues set. ARGV: raw entry, new payload, queue name.
    /// Pushes the new payload to the queue, if this call removed the entry.
    /// Prevents: a job lost between taking it from the set and pushing it.
    static let enqueueNow = RedisScript(
        """
        if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('LPUSH', KEYS[2], ARGV[2])
        redis.call('SADD', KEYS[3], ARGV[3])
        return 1
        """)
}
