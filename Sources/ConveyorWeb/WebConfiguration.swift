import ConveyorPostgres
import ConveyorRedis
import Foundation

/// How `conveyor web` runs.
public struct WebConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// When set, every request must carry it (HTTP Basic, any user name).
    public var password: String?
    public var redis: RedisConfiguration
    public var postgres: PostgresConfiguration?
    /// Connections kept for requests.
    public var poolSize: Int

    public init(host: String = "127.0.0.1", port: Int = 9292, password: String? = nil, redis: RedisConfiguration = RedisConfiguration(),
                postgres: PostgresConfiguration? = nil, poolSize: Int = 4) {
        self.host = host
        self.port = port
        self.password = password
        self.redis = redis
        self.postgres = postgres
        self.poolSize = poolSize
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses `HOST:PORT`, `:PORT` or `HOST` (IPv6 in brackets).
    public static func parseBind(_ text: String) throws(Refused) -> (String, Int) {
        var host = text
        var port = 9292
        if let colon = text.lastIndex(of: ":"), !text.hasSuffix("]"), text.filter({ $0 == ":" }).count == 1 || text.hasPrefix("[") {
            host = String(text[..<colon])
            guard let parsed = Int(text[text.index(after: colon)...]), (0...65535).contains(parsed) else {
                throw Refused(description: "--bind '\(text)': the port must be a number from 0 to 65535")
            }
            port = parsed
        }
        host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host.isEmpty { host = "127.0.0.1" }
        return (host, port)
    }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Refuses to serve beyond loopback without a password.
    public func validate() throws(Refused) {
        if !isLoopback && (password ?? "").isEmpty {
            throw Refused(description: """
                refusing to listen on \(host):\(port) without a password: anyone who can reach it could pause \
                migrations and delete jobs. Set CONVEYOR_WEB_PASSWORD, or bind to 127.0.0.1 (the default) and \
                reach it through an SSH tunnel or a proxy that authenticates.
                """)
        }
    }
}
