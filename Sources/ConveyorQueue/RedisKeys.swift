/// Sidekiq's keys, under Sidekiq's names so its API and Web UI read them. Conveyor's own
/// reliable-fetch keys (under `conveyor:`) belong to `ReliableFetch`.
public enum RedisKeys {
    public static let queues = "queues"
    public static let schedule = "schedule"
    public static let retry = "retry"
    public static let dead = "dead"
    public static let processes = "processes"
    public static let processed = "stat:processed"
    public static let failed = "stat:failed"

    public static func queue(_ name: String) -> String { "queue:" + name }

    /// The queue name of a `queue:<name>` key.
    public static func queueName(fromKey key: String) -> String {
        key.hasPrefix("queue:") ? String(key.dropFirst(6)) : key
    }

    public static func processedOn(_ day: String) -> String { "stat:processed:" + day }
    public static func failedOn(_ day: String) -> String { "stat:failed:" + day }

    /// Sidekiq 7+ reads the busy-jobs hash here; Sidekiq 6 reads `workersV6`. Both are written.
    public static func work(_ identity: String) -> String { identity + ":work" }
    public static func workersV6(_ identity: String) -> String { identity + ":workers" }
    public static func signals(_ identity: String) -> String { identity + "-signals" }
}
