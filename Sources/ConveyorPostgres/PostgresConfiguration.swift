import ConveyorPlatform

/// How to reach PostgreSQL: a libpq connection string (URL or `key=value` conninfo).
/// Empty means libpq's own defaults and `PG*` environment variables.
public struct PostgresConfiguration: Sendable, Equatable {
    public var connectionString: String
    public var applicationName: String
    public var connectTimeout: Duration
    /// After the connection broke, how long the next query keeps trying to reconnect.
    public var reconnectWait: Duration

    public init(
        connectionString: String = "",
        applicationName: String = "conveyor",
        connectTimeout: Duration = .seconds(5),
        reconnectWait: Duration = .seconds(10)
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.reconnectWait = reconnectWait
    }

    /// `DATABASE_URL` if set, otherwise libpq's `PG*` variables.
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.current) -> PostgresConfiguration {
        PostgresConfiguration(connectionString: environment["DATABASE_URL"] ?? "")
    }

    /// For logs: the connection string with every password libpq would read masked
    /// (see `ConnectionStringMask`).
    public var displayName: String {
        if connectionString.isEmpty { return "PostgreSQL from PG* environment defaults" }
        return ConnectionStringMask.masked(connectionString)
    }
}
