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

    /// For logs: the connection string with any password masked.
    public var displayName: String {
        if connectionString.isEmpty { return "PostgreSQL from PG* environment defaults" }
        var text = connectionString
        if let scheme = text.firstRange(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = text[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        if let range = text.firstMatch(of: #/password\s*=\s*('[^']*'|\S+)/#)?.range {
            text.replaceSubrange(range, with: "password=***")
        }
        return text
    }
}
