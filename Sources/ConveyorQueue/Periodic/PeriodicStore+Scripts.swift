import ConveyorRedis

/// The Lua of periodic jobs. Each script's opening comment states its KEYS/ARGV and the
/// failure it prevents; key prefixes come in as arguments.
extension PeriodicStore {
    /// KEYS: the entry's state hash, its queue, the queues set, its unique lock (or any key
    /// when ARGV[7] is 0). ARGV: tick (epoch seconds), the baseline the caller planned
    /// from, ticks it passes over, payload, queue name, jid, unique lock TTL in ms (0: none).
    /// Claims the tick if no process claimed it or a later one (`last_tick` only moves
    /// forward) and, unless the entry is paused (or its unique lock is held), enqueues the
    /// job in the same step. Refuses a tick the server's clock has not reached.
    /// Returns {outcome, server time, detail}: 'enqueued' (jid), 'taken' (the last tick),
    /// 'paused', 'duplicate', 'early'.
    /// Prevents: two processes enqueuing one tick; a claim whose job never got enqueued; an
    /// older tick enqueued after a newer one; a worker with a fast clock firing early.
    static let claimScript = RedisScript(
        """
        local time = redis.call('TIME')
        local now = time[1] .. '.' .. string.format('%06d', tonumber(time[2]))
        local tick = tonumber(ARGV[1])
        if tonumber(now) + 0.1 < tick then return {'early', now, ''} end
        local last = redis.call('HGET', KEYS[1], 'last_tick')
        if last and tonumber(last) >= tick then return {'taken', now, last} end
        redis.call('HSET', KEYS[1], 'last_tick', ARGV[1])
        if (last or '') == ARGV[2] and tonumber(ARGV[3]) > 0 then
          redis.call('HINCRBY', KEYS[1], 'missed', ARGV[3])
        end
        if redis.call('HGET', KEYS[1], 'paused') == '1' then
          redis.call('HINCRBY', KEYS[1], 'skipped_paused', 1)
          return {'paused', now, ''}
        end
        if tonumber(ARGV[7]) > 0 then
          if not redis.call('SET', KEYS[4], ARGV[6], 'NX', 'PX', ARGV[7]) then
            redis.call('HINCRBY', KEYS[1], 'skipped_duplicate', 1)
            return {'duplicate', now, redis.call('GET', KEYS[4]) or ''}
          end
        end
        redis.call('LPUSH', KEYS[2], ARGV[4])
        redis.call('SADD', KEYS[3], ARGV[5])
        redis.call('HSET', KEYS[1], 'last_enqueued_at', now, 'last_jid', ARGV[6])
        redis.call('HINCRBY', KEYS[1], 'enqueued', 1)
        return {'enqueued', now, ARGV[6]}
        """)

    /// KEYS: definitions hash, seen set. ARGV: state key prefix, seconds after which an
    /// entry no process publishes is forgotten, then (name, definition) pairs.
    /// Writes the definitions and when they were seen (server time); forgets entries unseen
    /// for longer than the cutoff (their state expires after 30 days, so a paused entry
    /// that comes back soon stays paused). Prevents: the list showing entries removed from
    /// every schedule file forever, and processes with different clocks disagreeing on "seen".
    static let publishScript = RedisScript(
        """
        local time = redis.call('TIME')
        local now = tonumber(time[1])
        for i = 3, #ARGV, 2 do
          redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
          redis.call('ZADD', KEYS[2], now, ARGV[i])
          redis.call('PERSIST', ARGV[1] .. ARGV[i])
        end
        local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
        for _, name in ipairs(stale) do
          redis.call('HDEL', KEYS[1], name)
          redis.call('ZREM', KEYS[2], name)
          redis.call('EXPIRE', ARGV[1] .. name, 2592000)
        end
        return #stale
        """)

    /// KEYS: definitions hash, the entry's state hash. ARGV: '1' (pause) or '0' (resume), name.
    /// Sets the flag only for an entry some process publishes; returns 0 for an unknown one.
    /// Prevents: pausing a misspelt name and believing it worked.
    static let pauseScript = RedisScript(
        """
        if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
        if ARGV[1] == '1' then
          redis.call('HSET', KEYS[2], 'paused', '1')
        else
          redis.call('HDEL', KEYS[2], 'paused')
        end
        redis.call('PERSIST', KEYS[2])
        return 1
        """)
}
