import ConveyorPlatform
import ConveyorJSON
import ConveyorPostgres
import ConveyorRedis
import Logging

/// What a running job can use: its payload, a logger with its jid and class, the
/// processor's Redis connection, and a PostgreSQL connection opened on first use and
/// kept for the processor's later jobs. Belongs to one processor thread.
public final class JobContext {
    public let payload: JobPayload
    public let queue: String
    public var logger: Logger
    public let redis: RedisConnection
    private let connections: ConnectionCache
    private let signal: StopSignal

    init(payload: JobPayload, queue: String, logger: Logger, redis: RedisConnection, connections: ConnectionCache, signal: StopSignal) {
        self.payload = payload
        self.queue = queue
        self.logger = logger
        self.redis = redis
        self.connections = connections
        self.signal = signal
    }

    public var jid: String { payload.jid }

    /// The processor's PostgreSQL connection (`DATABASE_URL`), opened on first use.
    public func postgres() throws -> PostgresConnection { try connections.postgres() }

    /// A client on the processor's Redis connection, to enqueue follow-up jobs.
    public var client: QueueClient { QueueClient(redis: redis) }

    /// True once the worker is shutting down; long jobs may check it and stop early by
    /// throwing, so they are retried elsewhere.
    public var isStopRequested: Bool { signal.isStopping }

    /// Sleeps up to `duration`, waking the moment the worker starts shutting down; true when
    /// it did (the job should then stop early by throwing, to be retried elsewhere).
    @discardableResult
    public func sleep(for duration: Duration) -> Bool { signal.sleep(for: duration, orUntil: .stopping) }
}

/// A processor's lazily opened PostgreSQL connection.
final class ConnectionCache {
    let configuration: PostgresConfiguration
    private var connection: PostgresConnection?

    init(configuration: PostgresConfiguration) { self.configuration = configuration }

    func postgres() throws -> PostgresConnection {
        if let connection { return connection }
        let connection = try PostgresConnection(configuration)
        self.connection = connection
        return connection
    }

    func close() {
        connection?.close()
        connection = nil
    }
}
