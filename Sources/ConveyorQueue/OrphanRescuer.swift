import ConveyorRedis
import Logging

/// Pushes back the jobs of worker processes that died without a graceful stop (River's
/// job rescuer, as a service of its own): every `interval`, whichever live process takes
/// the round's short lock runs the recovery script over the working-list registry, which
/// moves every list whose owner's lease lapsed back to its queue. A killed worker's jobs
/// therefore wait at most its lease plus one interval.
public struct OrphanRescuer: Sendable {
    public var interval: Duration

    public init(interval: Duration) {
        self.interval = interval
    }

    /// One round; returns how many jobs it recovered (0 when another process has this
    /// round's lock).
    @discardableResult
    public func rescue(on redis: RedisConnection, identity: String, logger: Logger) throws(RedisError) -> Int {
        var lock = RedisCommand("SET")
        lock.append(ReliableFetch.recoveryLock)
        lock.append(identity)
        lock.append("NX")
        lock.append("PX")
        lock.append(max(100, Int(interval.seconds * 1000) - 100))
        guard try redis.send(lock) != .null else { return 0 }
        let moved = try ReliableFetch.recoverOrphans(on: redis)
        if moved > 0 {
            logger.warning("recovered jobs of dead processes", metadata: ["count": "\(moved)"])
        }
        return moved
    }
}
