import ConveyorPlatform

/// Where and how to connect. Built from `REDIS_URL` (and, for Sentinel,
/// `REDIS_SENTINELS` + `REDIS_SENTINEL_MASTER`), with every default set here.
public struct RedisConfiguration: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
        /// Ask these sentinels for the address of `master`, then connect to it.
        case sentinel(sentinels: [HostPort], master: String)
    }

    public struct HostPort: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public static let defaultURL = "redis://127.0.0.1:6379/0"

    public var endpoint: Endpoint
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: Duration
    /// How long a normal command may take before the connection is declared broken.
    public var commandTimeout: Duration
    /// After a connection broke, how long the next command keeps retrying to reconnect
    /// (with exponential backoff) before it reports the failure.
    public var reconnectWait: Duration
    /// Shown in `CLIENT LIST`.
    public var clientName: String?
    /// Password of the sentinels themselves (`REDIS_SENTINEL_PASSWORD`), when they need one.
    public var sentinelPassword: String?

    public init(
        endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379),
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(3),
        commandTimeout: Duration = .seconds(10),
        reconnectWait: Duration = .seconds(10),
        clientName: String? = nil
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectWait = reconnectWait
        self.clientName = clientName
    }

    /// Parses `redis://[user:password@]host[:port][/db]`, `unix:///path[?db=N&password=P]`.
    /// `rediss://` is refused: Debian's hiredis is built without TLS.
    public init(url string: String) throws(RedisError) {
        self.init()
        let trimmed = string.trimmed()
        guard let components = try? RedisURL(trimmed) else {
            throw RedisError(.invalidConfiguration, "'\(Self.redacted(trimmed))' is not a URL; expected redis://[user:password@]host:port/db or unix:///path")
        }
        let scheme = components.scheme
        let query = Dictionary(components.query.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        password = components.password
        if let p = query["password"] { password = p }
        if let u = query["username"] { username = u.isEmpty ? nil : u }
        switch scheme {
        case "redis":
            // Brackets trimmed before the default applies: "redis://]" must not leave an empty host.
            let host = components.host.map { $0.trimmed(where: { "[]".contains($0) }) }.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
            let port = components.port ?? 6379
            guard (1...65535).contains(port) else { throw RedisError(.invalidConfiguration, "port \(port) is out of range") }
            endpoint = .tcp(host: host, port: port)
            let path = components.path.trimmed(where: { "/".contains($0) })
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisError(.invalidConfiguration, "database '\(path)' in REDIS_URL is not a number")
                }
                database = db
            }
        case "unix", "redis+unix":
            guard !components.path.isEmpty else { throw RedisError(.invalidConfiguration, "unix:// URL has no socket path") }
            endpoint = .unix(path: components.path)
        case "rediss":
            throw RedisError(
                .invalidConfiguration,
                "rediss:// (TLS) is not supported: Debian's hiredis is built without TLS. Use redis:// over a trusted network, a unix socket, or a TLS tunnel such as stunnel.")
        default:
            throw RedisError(.invalidConfiguration, "unsupported scheme '\(scheme)://'; expected redis:// or unix://")
        }
        if let db = query["db"] {
            guard let n = Int(db), n >= 0 else { throw RedisError(.invalidConfiguration, "db=\(db) is not a number") }
            database = n
        }
    }

    /// The configuration the environment describes: `REDIS_URL` (default
    /// `redis://127.0.0.1:6379/0`), or Sentinel with `REDIS_SENTINELS=host:port,...` and
    /// `REDIS_SENTINEL_MASTER=name` (password and db still from `REDIS_URL`).
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.current) throws(RedisError) -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultURL)
        if let list = environment["REDIS_SENTINELS"], !list.isEmpty {
            let master = environment["REDIS_SENTINEL_MASTER"].flatMap { $0.isEmpty ? nil : $0 } ?? "mymaster"
            var sentinels: [HostPort] = []
            for item in list.split(separator: ",") {
                let text = item.trimmed()
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                    throw RedisError(.invalidConfiguration, "REDIS_SENTINELS entry '\(text)' is not host:port")
                }
                let host = String(text[..<colon]).trimmed(where: { "[]".contains($0) })
                sentinels.append(HostPort(host: host, port: port))
            }
            configuration.endpoint = .sentinel(sentinels: sentinels, master: master)
            configuration.sentinelPassword = environment["REDIS_SENTINEL_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        }
        return configuration
    }

    /// A description safe for logs: never the password.
    public var displayName: String {
        let db = database == 0 ? "" : "/\(database)"
        switch endpoint {
        case .tcp(let host, let port): return "redis://\(HostPort(host: host, port: port))\(db)"
        case .unix(let path): return "unix://\(path)\(db.isEmpty ? "" : "?db=\(database)")"
        case .sentinel(let sentinels, let master):
            return "sentinel \(master) via \(sentinels.map(\.description).joined(separator: ","))\(db)"
        }
    }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.firstRange(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}
