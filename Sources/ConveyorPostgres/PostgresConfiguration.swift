import ConveyorPlatform

/// How to reach PostgreSQL: a libpq connection string (URL or `key=value` conninfo).
/// Empty means libpq's own defaults and `PG*` environment variables.
public struct PostgresConfiguration: Sendable, Equatable {
    public var connectionString: String
    public var applicationName: String
    public var connectTimeout: Duration
    /// After the connection broke, how long the next query keeps trying to reconnect.
    public var reconnectWait: Duration
    /// The longest a statement waits for the server's reply before the connection is
    /// declared broken (closed; the next query reconnects). nil: wait as long as the
    /// statement runs (TCP keepalive still notices a peer that vanished). For paths that can
    /// hang with both ends' kernels still answering (proxies, poolers). From
    /// `DATABASE_REPLY_TIMEOUT` (seconds) in the environment.
    public var replyTimeout: Duration?

    public init(
        connectionString: String = "",
        applicationName: String = "conveyor",
        connectTimeout: Duration = .seconds(5),
        reconnectWait: Duration = .seconds(10),
        replyTimeout: Duration? = nil
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.reconnectWait = reconnectWait
        self.replyTimeout = replyTimeout
    }

    /// `DATABASE_URL` if set, otherwise libpq's `PG*` variables; `DATABASE_REPLY_TIMEOUT`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.current) -> PostgresConfiguration {
        PostgresConfiguration(
            connectionString: environment["DATABASE_URL"] ?? "",
            replyTimeout: environment["DATABASE_REPLY_TIMEOUT"].flatMap(Double.init).flatMap { $0 > 0 ? .milliseconds(Int64($0 * 1000)) : nil })
    }

    /// For logs: the connection string with every password libpq would read masked
    /// (see `ConnectionStringMask`).
    public var displayName: String {
        if connectionString.isEmpty { return "PostgreSQL from PG* environment defaults" }
        return ConnectionStringMask.masked(connectionString)
    }
}
