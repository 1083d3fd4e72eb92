import ConveyorJSON
import ConveyorRedis
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorPlatform
import Logging

/// Moves due jobs from `retry` and `schedule` to their queues: one pipelined read of
/// what is due, then one Lua call per set that moves only the entries it removed.
/// Sleeps until the next job is due (capped at a jittered poll interval), so scheduled
/// jobs start within a fraction of a second of their time.
final class ScheduledPoller {
    let redis: RedisConnection
    let logger: Logger
    let pollInterval: Duration
    let batchSize = 100
    private var random = SystemRandomNumberGenerator()

    init(redis: RedisConnection, logger: Logger, pollInterval: Duration) {
        self.redis = redis
        self.logger = logger
        self.pollInterval = pollInterval
    }

    /// Runs until `shouldStop` returns true.
    func run(shouldStop: () -> Bool) {
        let outage = OutageLog(logger: logger, what: "Redis (scheduler)")
        while !shouldStop() {
            var wait: Double
            do {
                wait = try pollOnce()
                outage.recovered()
            } catch {
                outage.failed(error)
                wait = outage.backoff.seconds
            }
            let deadline = Date().addingTimeInterval(wait)
            while !shouldStop(), Date() < deadline {
                blockingSleep(seconds: min(0.05, max(0, deadline.timeIntervalSinceNow)))
            }
        }
    }

    /// Moves everything due now; returns how long to sleep before the next poll.
    @discardableResult
    func pollOnce() throws(RedisError) -> Double {
        var nextDue = Double.infinity
        var more = true
        var rounds = 0
        while more && rounds < 100 {
            more = false
            rounds += 1
            let now = Timestamp.now()
            var commands: [RedisCommand] = []
            for set in [RedisKeys.retry, RedisKeys.schedule] {
                var due = RedisCommand("ZRANGEBYSCORE")
                due.append(set)
                due.append("-inf")
                due.append(now)
                due.append("LIMIT")
                due.append(0)
                due.append(batchSize)
                commands.append(due)
                var first = RedisCommand("ZRANGE")
                first.append(set)
                first.append(0)
                first.append(0)
                first.append("WITHSCORES")
                commands.append(first)
            }
            let replies = try redis.pipeline(commands)
            nextDue = .infinity
            for (offset, set) in [RedisKeys.retry, RedisKeys.schedule].enumerated() {
                let members = replies[offset * 2].array?.compactMap(\.bytes) ?? []
                if members.count == batchSize { more = true }
                if !members.isEmpty { try enqueue(members, from: set, now: now) }
                if let first = replies[offset * 2 + 1].array, first.count == 2, let score = first[1].double {
                    nextDue = min(nextDue, score)
                }
            }
        }
        let jittered = pollInterval.seconds * Double.random(in: 0.5...1.5, using: &random)
        return max(0.01, min(jittered, nextDue - Timestamp.now()))
    }

    private func enqueue(_ members: [[UInt8]], from set: String, now: Double) throws(RedisError) {
        let stamp = Timestamp.json(now)
        let moved = try redis.evaluate(QueueScripts.enqueueDue) { command in
            command.append(2)
            command.append(set)
            command.append(RedisKeys.queues)
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
}
