import ConveyorPostgres
import ConveyorRedis

/// Everything a worker process needs, with every default in one place.
public struct WorkerConfiguration: Sendable {
    /// The queues a worker serves when none are given: Conveyor's own, equally weighted.
    public static let defaultQueues = ["default,1", "background_migration,1", "batched_background_migrations,1"]

    public var redis: RedisConfiguration
    public var postgres: PostgresConfiguration
    public var queues: QueueSelector
    /// Processor threads, each running one job at a time.
    public var concurrency: Int
    /// How long TERM waits for running jobs before pushing them back.
    public var shutdownTimeout: Duration
    public var tag: String
    public var labels: [String]
    public var heartbeatInterval: Duration
    /// The liveness lease; another process recovers our working lists after it lapses.
    public var leaseDuration: Duration
    /// How often a process looks for working lists of dead processes.
    public var recoveryInterval: Duration
    /// Average pause of the scheduled/retry poller when nothing is due sooner.
    public var pollInterval: Duration
    /// How long an idle processor blocks on a queue before looking again.
    public var idleBlock: Duration
    /// Most jobs a processor moves to its working list at once.
    public var maxFetchBatch: Int
    /// A fetched batch is sized to hold about this much work, from measured job times.
    public var fetchBatchTarget: Duration
    public var retryPolicy: RetryPolicy
    public var deadMaxJobs: Int
    public var deadTimeout: Duration
    /// Told about every finished job (metrics); nil costs nothing.
    public var observer: (any JobObserver)?

    public init(
        redis: RedisConfiguration = RedisConfiguration(),
        postgres: PostgresConfiguration = PostgresConfiguration(),
        queues: QueueSelector? = nil,
        concurrency: Int = 10,
        shutdownTimeout: Duration = .seconds(25),
        tag: String = "",
        labels: [String] = [],
        heartbeatInterval: Duration = .seconds(5),
        leaseDuration: Duration = .seconds(30),
        recoveryInterval: Duration = .seconds(10),
        pollInterval: Duration = .milliseconds(500),
        idleBlock: Duration = .seconds(1),
        maxFetchBatch: Int = 100,
        fetchBatchTarget: Duration = .milliseconds(10),
        retryPolicy: RetryPolicy = RetryPolicy(),
        deadMaxJobs: Int = 10_000,
        deadTimeout: Duration = .seconds(180 * 24 * 3600)
    ) {
        self.redis = redis
        self.postgres = postgres
        self.queues = queues ?? (try! QueueSelector(specs: Self.defaultQueues))
        self.concurrency = concurrency
        self.shutdownTimeout = shutdownTimeout
        self.tag = tag
        self.labels = labels
        self.heartbeatInterval = heartbeatInterval
        self.leaseDuration = leaseDuration
        self.recoveryInterval = recoveryInterval
        self.pollInterval = pollInterval
        self.idleBlock = idleBlock
        self.maxFetchBatch = maxFetchBatch
        self.fetchBatchTarget = fetchBatchTarget
        self.retryPolicy = retryPolicy
        self.deadMaxJobs = deadMaxJobs
        self.deadTimeout = deadTimeout
        self.observer = nil
    }
}

extension Duration {
    /// Seconds as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Receives each finished job, from the processor thread that ran it.
public protocol JobObserver: Sendable {
    func jobFinished(queue: String, className: String, seconds: Double, failed: Bool)
}
