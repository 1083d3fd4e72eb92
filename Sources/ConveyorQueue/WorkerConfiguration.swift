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
    /// The liveness lease, renewed by every heartbeat; once it lapses another process
    /// pushes our unfinished jobs back. With the rescue interval it bounds how long a
    /// killed worker's jobs wait (lease + interval).
    public var leaseDuration: Duration
    /// How often a process looks for the jobs of dead processes (see `OrphanRescuer`).
    public var recoveryInterval: Duration
    /// Average pause of the scheduled/retry poller when nothing is due sooner.
    public var pollInterval: Duration
    /// How long an idle fetcher waits for a push before looking again (it wakes at once
    /// when a job is pushed; this bounds how late it notices quiet).
    public var idleBlock: Duration
    /// The most unstarted jobs a process holds beyond one per free processor.
    public var maxFetchBatch: Int
    /// Unstarted jobs held beyond free processors are sized to about this much work per
    /// processor, from measured job times (fast jobs come in batches, slow ones one by one).
    public var fetchBatchTarget: Duration
    public var retryPolicy: RetryPolicy
    public var deadMaxJobs: Int
    public var deadTimeout: Duration
    /// Told about every finished job (metrics); nil costs nothing.
    public var observer: (any JobObserver)?
    /// The time scheduling decisions use (corrected to the Redis server's clock).
    public var clock: WorkerClock

    public init(
        redis: RedisConfiguration = RedisConfiguration(),
        postgres: PostgresConfiguration = PostgresConfiguration(),
        queues: QueueSelector? = nil,
        concurrency: Int = 10,
        shutdownTimeout: Duration = .seconds(25),
        tag: String = "",
        labels: [String] = [],
        heartbeatInterval: Duration = .seconds(5),
        leaseDuration: Duration = .seconds(20),
        recoveryInterval: Duration = .seconds(5),
        pollInterval: Duration = .milliseconds(500),
        idleBlock: Duration = .seconds(1),
        maxFetchBatch: Int = 1000,
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
        self.clock = WorkerClock()
    }
}


/// Receives each finished job, from the processor thread that ran it.
public protocol JobObserver: Sendable {
    func jobFinished(queue: String, className: String, seconds: Double, failed: Bool)
}
