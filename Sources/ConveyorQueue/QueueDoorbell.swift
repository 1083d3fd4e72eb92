import ConveyorRedis
import Logging

/// Wakes an idle fetcher the moment a job is pushed to any of its queues, however many it
/// serves, without popping anything (so reliable fetch keeps its guarantee). It uses
/// Redis's broadcast client tracking: while armed, the server sends an invalidation message
/// to a subscribed connection of ours whenever a key starting with one of our queue keys
/// changes. It is armed only while the fetcher is idle, so a busy queue costs no messages;
/// an idle process costs Redis nothing per second and one extra connection.
///
/// (One queue needs none of this: the fetcher blocks in `BLMOVE`, which Redis serves to
/// exactly one waiting client.)
final class QueueDoorbell {
    private let configuration: RedisConfiguration
    private let prefixes: [String]
    private var subscriber: RedisConnection?
    /// The fetch connection's reconnect count and the subscriber's id when tracking was
    /// turned on; tracking lapses with either connection.
    private var armedWith: (reconnects: Int, subscriber: Int)?
    private var subscriberID = 0

    init(configuration: RedisConfiguration, queueKeys: [String]) {
        var configuration = configuration
        configuration.clientName = "conveyor-doorbell"
        self.configuration = configuration
        prefixes = Self.broadcastPrefixes(queueKeys)
    }

    /// Redis refuses overlapping prefixes (`queue:mail` and `queue:mailers`); the shorter
    /// one covers both, and waking for a neighbour's key only costs one empty fetch.
    static func broadcastPrefixes(_ keys: [String]) -> [String] {
        var kept: [String] = []
        for key in Set(keys).sorted(by: { $0.utf8.count < $1.utf8.count || ($0.utf8.count == $1.utf8.count && $0 < $1) }) where !kept.contains(where: { key.hasPrefix($0) }) {
            kept.append(key)
        }
        return kept.sorted()
    }

    /// True when tracking is on for `fetchConnection` right now.
    func isArmed(on fetchConnection: RedisConnection) -> Bool {
        guard let armedWith, subscriber?.isConnected == true else { return false }
        return armedWith.reconnects == fetchConnection.reconnectCount && armedWith.subscriber == subscriberID
    }

    /// Turns tracking on (subscribing first if needed). The caller fetches once more
    /// afterwards: a job pushed before this call sent no message.
    func arm(on fetchConnection: RedisConnection) throws(RedisError) {
        if subscriber?.isConnected != true {
            subscriber?.close()
            let connection = try RedisConnection(configuration)
            subscriberID = try connection.clientID()
            try connection.subscribe("__redis__:invalidate")
            subscriber = connection
        }
        if armedWith != nil, fetchConnection.reconnectCount == armedWith?.reconnects {
            // On, but for a subscriber that has since reconnected.
            try fetchConnection.command("CLIENT", "TRACKING", "OFF")
        }
        var tracking = RedisCommand(["CLIENT", "TRACKING", "ON", "REDIRECT", subscriberID, "BCAST"])
        for prefix in prefixes {
            tracking.append("PREFIX")
            tracking.append(prefix)
        }
        tracking.append("NOLOOP")
        try fetchConnection.send(tracking)
        armedWith = (fetchConnection.reconnectCount, subscriberID)
    }

    /// Turns tracking off once jobs flow again. If that fails the connection broke, which
    /// ends tracking too.
    func disarm(on fetchConnection: RedisConnection) {
        guard armedWith != nil else { return }
        if isArmed(on: fetchConnection) { _ = try? fetchConnection.command("CLIENT", "TRACKING", "OFF") }
        armedWith = nil
    }

    /// Waits up to `timeout` for a change to one of the queues; true when one came.
    func wait(timeout: Duration) throws(RedisError) -> Bool {
        guard let subscriber else { return false }
        do {
            return try subscriber.waitForMessages(timeout: timeout) > 0
        } catch {
            subscriber.close()
            armedWith = nil
            throw error
        }
    }

    func close() {
        subscriber?.close()
        subscriber = nil
        armedWith = nil
    }
}

@available(*, unavailable)
extension QueueDoorbell: Sendable {}
