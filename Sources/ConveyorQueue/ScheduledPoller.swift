import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
import Logging

/// Moves due jobs from `retry` and `schedule` to their queues: one script call reads what
/// is due by the Redis server's clock (so a worker whose own clock is off neither runs jobs
/// early nor leaves them), then one script call per set moves only the entries it removed.
/// Sleeps until the next job is due (capped at a jittered poll interval) and wakes at once
/// when the worker turns quiet.
final class ScheduledPoller {
    let redis: RedisConnection
    let logger: Logger
    let pollInterval: Duration
    let clock: WorkerClock
    let batchSize = 100
    private var random = SystemRandomNumberGenerator()

    init(redis: RedisConnection, logger: Logger, pollInterval: Duration, clock: WorkerClock) {
        self.redis = redis
        self.logger = logger
        self.pollInterval = pollInterval
        self.clock = clock
    }

    /// Runs until `signal` turns quiet.
    func run(until signal: StopSignal) {
        let outage = OutageLog(logger: logger, what: "Redis (scheduler)")
        while !signal.isQuiet {
            var wait: Duration
            do {
                wait = try pollOnce()
                outage.recovered()
            } catch {
                outage.failed(error)
                wait = outage.backoff
            }
            signal.sleep(for: wait)
        }
    }

    /// What the due-read script returned: the server's time, and per set the due members
    /// and the score of its first member.
    struct Due {
        var serverTime: Double
        var members: [[[UInt8]]]
        var firstScores: [Double?]
    }

    /// Moves everything due now; returns how long to sleep before the next poll.
    @discardableResult
    func pollOnce() throws(RedisError) -> Duration {
        let sets = [RedisKeys.retry, RedisKeys.schedule]
        var nextDue = Double.infinity
        var serverNow = clock.now()
        for _ in 0..<100 {
            let sentAt = clock.localNow()
            let due = try readDue(sets)
            clock.observe(server: due.serverTime, sentAt: sentAt, receivedAt: clock.localNow())
            serverNow = due.serverTime
            var more = false
            nextDue = .infinity
            for (offset, set) in sets.enumerated() {
                let members = due.members[offset]
                if members.count == batchSize { more = true }
                if !members.isEmpty { try enqueue(members, from: set, now: serverNow) }
                if let first = due.firstScores[offset] { nextDue = min(nextDue, first) }
            }
            if !more { break }
        }
        let jittered = pollInterval.seconds * Double.random(in: 0.5...1.5, using: &random)
        return .milliseconds(Int64(max(0.01, min(jittered, nextDue - serverNow)) * 1000))
    }

    private func readDue(_ sets: [String]) throws(RedisError) -> Due {
        let reply = try redis.evaluate(Self.dueScript) { command in
            command.append(sets.count)
            for set in sets { command.append(set) }
            command.append(batchSize)
        }
        guard case .array(let parts) = reply, parts.count == 1 + sets.count * 2,
            let seconds = parts[0].array?.first?.int, let micros = parts[0].array?.last?.int
        else { throw RedisError(.unexpectedReply, "the due-jobs script returned an unexpected reply") }
        var due = Due(serverTime: Double(seconds) + Double(micros) / 1_000_000, members: [], firstScores: [])
        for offset in sets.indices {
            due.members.append(parts[1 + offset * 2].array?.compactMap(\.bytes) ?? [])
            let first = parts[2 + offset * 2].array ?? []
            due.firstScores.append(first.count == 2 ? first[1].double : nil)
        }
        return due
    }

    private func enqueue(_ members: [[UInt8]], from set: String, now: Double) throws(RedisError) {
        let stamp = Timestamp.json(now)
        let moved = try redis.evaluate(QueueScripts.enqueueDue) { command in
            command.append(2)
            command.append(set)
            command.append(RedisKeys.queues)
            command.append(RedisKeys.queue(""))
            for member in members {
                command.append(bytes: member)
                if case .object(var object)? = try? JSONValue.parse(member) {
                    object["enqueued_at"] = stamp
                    object["at"] = nil
                    command.append(bytes: object.serializedBytes())
                    command.append(object["queue"]?.stringValue ?? "default")
                } else {
                    // Not a job: the processor will send it to the dead set with its reason.
                    command.append(bytes: member)
                    command.append("default")
                }
            }
        }
        if let count = moved.int, count > 0 {
            logger.debug("enqueued due jobs", metadata: ["set": .string(set), "count": "\(count)"])
        }
    }

    /// KEYS: the sorted sets. ARGV: most members per set. Returns {TIME, then per set its
    /// members due by the server's clock and its first member with score}.
    /// Prevents: a skewed worker clock deciding what is due.
    static let dueScript = RedisScript(
        """
        local time = redis.call('TIME')
        local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
        local result = {time}
        for i = 1, #KEYS do
          result[#result + 1] = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
          result[#result + 1] = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
        end
        return result
        """)
}
