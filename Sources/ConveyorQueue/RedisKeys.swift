/// Every Redis key Conveyor touches. Sidekiq's own keys keep Sidekiq's names so its API and
/// Web UI read them; Conveyor's bookkeeping lives under `conveyor:`.
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

    // Conveyor's own keys.
    /// A processor's reliable-fetch working list for one queue. Each processor alternates
    /// between two generations, so acknowledging one batch and fetching the next can be
    /// retried safely after a lost reply.
    public static func working(identity: String, processor: Int, generation: Int, queue: String) -> String {
        "conveyor:working:\(identity):\(processor):\(generation):\(queue)"
    }
    /// HASH working-list key → "<identity>\t<queue>", so any live process can find and
    /// recover the lists of a dead one.
    public static let workingRegistry = "conveyor:working-lists"
    /// Present (with a TTL renewed by each heartbeat) while a process is alive.
    public static func alive(_ identity: String) -> String { "conveyor:alive:" + identity }
    /// Held briefly by the process that scans for orphaned working lists.
    public static let recoveryLock = "conveyor:recovery-lock"
}
