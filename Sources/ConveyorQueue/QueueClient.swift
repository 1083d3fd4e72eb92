import ConveyorJSON
import ConveyorRedis

/// Pushes jobs the way Sidekiq's client does: `LPUSH queue:<q>` with `SADD queues`, or
/// `ZADD schedule` for jobs that run later. Wraps a connection owned by the caller.
public struct QueueClient {
    public let redis: RedisConnection
    /// Payloads per pipelined round in bulk pushes.
    public var bulkBatchSize = 1000

    public init(redis: RedisConnection) { self.redis = redis }

    /// Enqueues now (or at `at`, epoch seconds, when that is in the future); returns the jid.
    @discardableResult
    public func enqueue(_ className: String, args: [JSONValue] = [], queue: String = "default", retry: RetrySetting = .enabled, at: Double? = nil) throws(RedisError) -> String {
        let payload = JobPayload(className: className, args: args, queue: queue, retry: retry)
        if let at, at > Timestamp.now() {
            try schedule(payload, at: at)
        } else {
            try push(payload)
        }
        return payload.jid
    }

    /// Enqueues for immediate execution, stamping `enqueued_at`.
    public func push(_ payload: JobPayload) throws(RedisError) {
        try pushBulk([payload])
    }

    /// Adds to the `schedule` set to be moved to its queue at `at` (epoch seconds).
    public func schedule(_ payload: JobPayload, at: Double) throws(RedisError) {
        try scheduleBulk([(payload, at)])
    }

    /// Pushes many jobs: one `LPUSH` per queue and round, `bulkBatchSize` payloads per
    /// round, all rounds pipelined.
    public func pushBulk(_ payloads: [JobPayload]) throws(RedisError) {
        guard !payloads.isEmpty else { return }
        let now = Timestamp.json(Timestamp.now())
        var commands: [RedisCommand] = []
        var queuesSeen = Set<String>()
        var start = 0
        while start < payloads.count {
            let end = min(start + bulkBatchSize, payloads.count)
            var byQueue: [String: RedisCommand] = [:]
            var order: [String] = []
            for index in start..<end {
                var payload = payloads[index]
                payload.object["enqueued_at"] = now
                let queue = payload.queue
                if byQueue[queue] == nil {
                    var command = RedisCommand("LPUSH")
                    command.append(RedisKeys.queue(queue))
                    byQueue[queue] = command
                    order.append(queue)
                }
                byQueue[queue]!.append(bytes: payload.serialized())
            }
            for queue in order {
                if queuesSeen.insert(queue).inserted {
                    var sadd = RedisCommand("SADD")
                    sadd.append(RedisKeys.queues)
                    sadd.append(queue)
                    commands.append(sadd)
                }
                commands.append(byQueue[queue]!)
            }
            start = end
        }
        try checkReplies(redis.pipeline(commands))
    }

    /// Schedules many jobs with one `ZADD` per round.
    public func scheduleBulk(_ jobs: [(JobPayload, Double)]) throws(RedisError) {
        guard !jobs.isEmpty else { return }
        var commands: [RedisCommand] = []
        var start = 0
        while start < jobs.count {
            let end = min(start + bulkBatchSize, jobs.count)
            var command = RedisCommand("ZADD")
            command.append(RedisKeys.schedule)
            for (payload, at) in jobs[start..<end] {
                var payload = payload
                payload.object["at"] = nil
                payload.object["enqueued_at"] = nil
                command.append(at)
                command.append(bytes: payload.serialized())
            }
            commands.append(command)
            start = end
        }
        try checkReplies(redis.pipeline(commands))
    }

    private func checkReplies(_ replies: [RedisReply]) throws(RedisError) {
        for reply in replies {
            if let error = reply.error { throw error }
        }
    }
}
