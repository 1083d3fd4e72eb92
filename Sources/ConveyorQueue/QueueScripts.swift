import ConveyorRedis

/// The Lua scripts that make Conveyor's multi-key moves atomic. Each is loaded once per
/// connection and run with EVALSHA.
enum QueueScripts {
    /// Acknowledges finished batches (deletes their working lists), then fills this
    /// fetch's working lists. If one of them is not empty, an earlier call moved jobs there
    /// but its reply was lost (the connection broke): those jobs are returned again instead
    /// of fetching new ones, so nothing is stranded. Otherwise moves up to `limit` jobs
    /// from the first non-empty queue into that queue's working list.
    /// KEYS: ack lists…, then (queue, working list) pairs. ARGV: ack count, limit.
    /// Returns {queue key, {jobs…}} with the oldest job first, or nil.
    static let fetch = RedisScript(
        """
        local acks = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        for i = 1, acks do redis.call('DEL', KEYS[i]) end
        for i = acks + 1, #KEYS, 2 do
          local stranded = redis.call('LRANGE', KEYS[i + 1], 0, -1)
          if #stranded > 0 then
            local oldestFirst = {}
            for j = #stranded, 1, -1 do oldestFirst[#oldestFirst + 1] = stranded[j] end
            return {KEYS[i], oldestFirst}
          end
        end
        for i = acks + 1, #KEYS, 2 do
          local items = redis.call('RPOP', KEYS[i], limit)
          if items then
            for j = 1, #items, 1000 do
              redis.call('LPUSH', KEYS[i + 1], unpack(items, j, math.min(j + 999, #items)))
            end
            return {KEYS[i], items}
          end
        end
        return false
        """)

    /// Records a failure atomically with the acknowledgement: removes the job from the
    /// working list and adds the updated payload to `retry` or `dead` (trimming `dead`).
    /// KEYS: working list, target set. ARGV: raw job, new payload ('' = drop), score,
    /// mode ('retry' | 'dead' | 'drop'), dead cutoff score, dead max size.
    static let fail = RedisScript(
        """
        redis.call('LREM', KEYS[1], -1, ARGV[1])
        if ARGV[4] == 'drop' then return 0 end
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
        if ARGV[4] == 'dead' then
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
          redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[6]) + 1))
        end
        return 1
        """)

    /// Puts a working list back on its queue: drops the `done` oldest entries (finished
    /// jobs), pushes the rest to the front of the queue in their order, deletes the list.
    /// KEYS: working list, queue key, queues set. ARGV: done count, queue name.
    static let requeue = RedisScript(
        """
        local done = tonumber(ARGV[1])
        if done > 0 then redis.call('LTRIM', KEYS[1], 0, -(done + 1)) end
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        for j = 1, #items, 1000 do
          redis.call('RPUSH', KEYS[2], unpack(items, j, math.min(j + 999, #items)))
        end
        if #items > 0 then redis.call('SADD', KEYS[3], ARGV[2]) end
        redis.call('DEL', KEYS[1])
        return #items
        """)

    /// The keys and arguments of `requeue` for one working list.
    static func requeueArguments(list: String, queue: String, finished: Int) -> (inout RedisCommand) -> Void {
        { command in
            command.append(3)
            command.append(list)
            command.append(RedisKeys.queue(queue))
            command.append(RedisKeys.queues)
            command.append(finished)
            command.append(queue)
        }
    }

    /// Finds working lists whose owner's `conveyor:alive:` key has expired and pushes
    /// their jobs back to the front of their queues.
    /// KEYS: registry hash, queues set. ARGV: none. Returns the number of jobs recovered.
    static let recover = RedisScript(
        """
        local entries = redis.call('HGETALL', KEYS[1])
        local moved = 0
        for i = 1, #entries, 2 do
          local list, owner = entries[i], entries[i + 1]
          local tab = string.find(owner, '\\t', 1, true)
          if tab then
            local identity = string.sub(owner, 1, tab - 1)
            local queue = string.sub(owner, tab + 1)
            if redis.call('EXISTS', 'conveyor:alive:' .. identity) == 0 then
              local items = redis.call('LRANGE', list, 0, -1)
              for j = 1, #items, 1000 do
                redis.call('RPUSH', 'queue:' .. queue, unpack(items, j, math.min(j + 999, #items)))
              end
              if #items > 0 then redis.call('SADD', KEYS[2], queue) end
              moved = moved + #items
              redis.call('DEL', list)
              redis.call('HDEL', KEYS[1], list)
            end
          end
        end
        return moved
        """)

    /// Moves due jobs from a sorted set to their queues. Only jobs this call removed are
    /// pushed, so processes polling at once never push a job twice.
    /// KEYS: the sorted set, queues set. ARGV: (member, new payload, queue) triples.
    static let enqueueDue = RedisScript(
        """
        local moved = 0
        for i = 1, #ARGV, 3 do
          if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
            redis.call('LPUSH', 'queue:' .. ARGV[i + 2], ARGV[i + 1])
            redis.call('SADD', KEYS[2], ARGV[i + 2])
            moved = moved + 1
          end
        end
        return moved
        """)
}
