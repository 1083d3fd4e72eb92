import ConveyorRedis

/// The Lua of reliable fetch. Each script's opening comment states its KEYS/ARGV and the
/// failure it prevents; key prefixes come in as arguments, never written into the Lua.
extension ReliableFetch {
    /// KEYS[1]: this process's fetch record; then one (queue, working list, landing list)
    /// triple per queue, in the order to try. ARGV: fetch number, most jobs to take, the
    /// triple whose landing list to collect first (0: none).
    /// Moves up to `limit` jobs — what an idle BLMOVE left in the landing list, then from
    /// the first non-empty queue — into that queue's working list, records (number,
    /// triple, count) and returns {queue key, jobs oldest first}, or false.
    /// Prevents: a lost reply stranding a batch. Called again with the same number (the
    /// caller retries the identical call after reconnecting), it returns the recorded
    /// batch — the newest `count` entries of that working list — and takes nothing more.
    static let fetchScript = RedisScript(
        """
        #!lua flags=allow-oom
        local record = redis.call('GET', KEYS[1])
        if record then
          local number, triple, count = string.match(record, '^(%d+):(%d+):(%d+)$')
          if number == ARGV[1] then
            local base = 2 + (tonumber(triple) - 1) * 3
            local newest = redis.call('LRANGE', KEYS[base + 1], 0, tonumber(count) - 1)
            local jobs = {}
            for i = #newest, 1, -1 do jobs[#jobs + 1] = newest[i] end
            return {KEYS[base], jobs}
          end
        end
        local limit = tonumber(ARGV[2])
        local collect = tonumber(ARGV[3])
        for triple = 1, (#KEYS - 1) / 3 do
          local base = 2 + (triple - 1) * 3
          local jobs = {}
          if triple == collect then
            local landed = redis.call('LRANGE', KEYS[base + 2], 0, -1)
            for i = #landed, 1, -1 do jobs[#jobs + 1] = landed[i] end
            if #landed > 0 then redis.call('DEL', KEYS[base + 2]) end
          end
          if #jobs < limit then
            local popped = redis.call('RPOP', KEYS[base], limit - #jobs)
            if popped then
              for i = 1, #popped do jobs[#jobs + 1] = popped[i] end
            end
          end
          if #jobs > 0 then
            for j = 1, #jobs, 1000 do
              redis.call('LPUSH', KEYS[base + 1], unpack(jobs, j, math.min(j + 999, #jobs)))
            end
            redis.call('SET', KEYS[1], ARGV[1] .. ':' .. triple .. ':' .. #jobs, 'EX', 86400)
            return {KEYS[base], jobs}
          end
        end
        return false
        """)

    /// KEYS: working list, target set (retry or dead). ARGV: raw job, new payload, score,
    /// mode ('retry' | 'dead' | 'drop'), dead cutoff score, dead max size.
    /// Removes the job from the working list and adds the updated payload to retry or dead,
    /// trimming dead by age and size. Prevents: a failed job in both places or in neither.
    static let failScript = RedisScript(
        """
        #!lua flags=allow-oom
        redis.call('LREM', KEYS[1], -1, ARGV[1])
        if ARGV[4] == 'drop' then return 0 end
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
        if ARGV[4] == 'dead' then
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
          redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[6]) + 1))
        end
        return 1
        """)

    /// KEYS: working list, queue key, queues set. ARGV: queue name, then the unstarted
    /// jobs newest first. Each job still in the working list is removed from it and pushed
    /// to the front of the queue (the oldest ends up next to run). Returns how many.
    /// Prevents: a job pushed back twice after another process recovered the list.
    static let pushBackScript = RedisScript(
        """
        #!lua flags=allow-oom
        local moved = 0
        for i = 2, #ARGV do
          if redis.call('LREM', KEYS[1], -1, ARGV[i]) == 1 then
            redis.call('RPUSH', KEYS[2], ARGV[i])
            moved = moved + 1
          end
        end
        if moved > 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
        return moved
        """)

    /// KEYS: a working or landing list, its queue key, queues set, registry. ARGV: queue
    /// name. Pushes everything in the list to the front of the queue in order (oldest next
    /// to run), deletes the list and its registry entry. Returns how many jobs moved.
    /// Prevents: a graceful stop leaving jobs parked under a process that is gone.
    static let releaseScript = RedisScript(
        """
        #!lua flags=allow-oom
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        for j = 1, #items, 1000 do
          redis.call('RPUSH', KEYS[2], unpack(items, j, math.min(j + 999, #items)))
        end
        if #items > 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
        redis.call('DEL', KEYS[1])
        redis.call('HDEL', KEYS[4], KEYS[1])
        return #items
        """)

    /// KEYS: registry hash, queues set. ARGV: lease key prefix, queue key prefix, fetch
    /// record prefix. For every registered list whose owner's lease is gone, pushes its
    /// jobs to the front of their queue, deletes the list, its entry and the owner's fetch
    /// record. Returns the number of jobs recovered.
    /// Prevents: jobs of a killed process waiting forever. (Same registry format as the
    /// first release's script, so either release recovers the other's lists.)
    static let recoverScript = RedisScript(
        """
        local entries = redis.call('HGETALL', KEYS[1])
        local moved = 0
        for i = 1, #entries, 2 do
          local list, owner = entries[i], entries[i + 1]
          local tab = string.find(owner, '\\t', 1, true)
          if tab then
            local identity = string.sub(owner, 1, tab - 1)
            local queue = string.sub(owner, tab + 1)
            if redis.call('EXISTS', ARGV[1] .. identity) == 0 then
              local items = redis.call('LRANGE', list, 0, -1)
              for j = 1, #items, 1000 do
                redis.call('RPUSH', ARGV[2] .. queue, unpack(items, j, math.min(j + 999, #items)))
              end
              if #items > 0 then redis.call('SADD', KEYS[2], queue) end
              moved = moved + #items
              redis.call('DEL', list)
              redis.call('HDEL', KEYS[1], list)
              redis.call('DEL', ARGV[3] .. identity)
            end
          end
        end
        return moved
        """)

    /// KEYS: source (a queue or the scheduled set), claim list. ARGV: 'sorted' | 'list',
    /// then raw entries. Empties the claim list (acknowledging the previous claims), then
    /// removes each entry from its source and holds the ones this call removed.
    /// Returns 1/0 per entry. Prevents: a live worker and `steal` both running one job.
    static let claimScript = RedisScript(
        """
        redis.call('DEL', KEYS[2])
        local result = {}
        for i = 2, #ARGV do
          local removed
          if ARGV[1] == 'sorted' then
            removed = redis.call('ZREM', KEYS[1], ARGV[i])
          else
            removed = redis.call('LREM', KEYS[1], -1, ARGV[i])
          end
          if removed == 1 then redis.call('RPUSH', KEYS[2], ARGV[i]) end
          result[#result + 1] = removed
        end
        return result
        """)

    /// KEYS: claim list, queue key, queues set. ARGV: queue name, the failed job, then the
    /// claimed jobs not yet run. The failed job goes to the head of the queue (as GitLab's
    /// perform_async would), the unstarted ones back to its front, the claim is dropped.
    static let giveBackScript = RedisScript(
        """
        redis.call('DEL', KEYS[1])
        redis.call('LPUSH', KEYS[2], ARGV[2])
        for i = 3, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
        redis.call('SADD', KEYS[3], ARGV[1])
        return 1
        """)
}
