import ConveyorPostgres
import ConveyorRedis
import Dispatch
import Synchronization

/// Blocking Redis/PostgreSQL connections for async request handlers: each call first waits
/// (suspended, holding no thread) for one of `poolSize` slots, then borrows a connection set
/// on a dedicated queue (never the cooperative pool) and returns it. So at most `poolSize`
/// GCD threads ever run pool work, however many requests queue up.
public final class ConnectionPool: Sendable {
    /// The connections of one borrowed slot, used by one call at a time.
    public final class Connections {
        let configuration: WebConfiguration
        private var redisConnection: RedisConnection?
        private var postgresConnection: PostgresConnection?

        init(configuration: WebConfiguration) { self.configuration = configuration }

        public func redis() throws -> RedisConnection {
            if let redisConnection { return redisConnection }
            let connection = try RedisConnection(configuration.redis)
            redisConnection = connection
            return connection
        }

        /// nil when no database is configured.
        public func postgres() throws -> PostgresConnection? {
            guard let postgres = configuration.postgres else { return nil }
            if let postgresConnection { return postgresConnection }
            let connection = try PostgresConnection(postgres)
            postgresConnection = connection
            return connection
        }
    }

    private let configuration: WebConfiguration
    private let idle: Mutex<[UnsafeTransfer<Connections>]>
    private let queue = DispatchQueue(label: "conveyor.web.blocking", attributes: .concurrent)
    let slots: SlotGate

    public init(configuration: WebConfiguration) {
        self.configuration = configuration
        idle = Mutex([])
        slots = SlotGate(limit: configuration.poolSize)
    }

    /// Runs `body` with a borrowed connection set, off the cooperative pool.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connections) throws -> T) async throws -> T {
        await slots.acquire()
        defer { slots.release() }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                let connections = idle.withLock { $0.popLast()?.value } ?? Connections(configuration: configuration)
                let result = Result { try body(connections) }
                // Returned before the caller resumes and frees its slot, so the next
                // borrower reuses this set instead of opening another.
                idle.withLock { $0.append(UnsafeTransfer(connections)) }
                continuation.resume(with: result)
            }
        }
    }
}

/// Moves a value owned by one borrower at a time between threads.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
