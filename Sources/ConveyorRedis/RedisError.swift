/// Every failure the Redis wrapper reports. Server errors keep Redis's message; the first
/// word of it (`NOSCRIPT`, `READONLY`, ...) is the `serverErrorPrefix` callers branch on.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// The URL or options cannot be used (`rediss://`, a bad port, ...).
        case invalidConfiguration
        /// No connection could be made (server down, refused, DNS, AUTH failed).
        case connectionFailed
        /// The connection broke during a command; the command may or may not have run.
        case connectionLost
        /// The server did not answer within the command timeout.
        case timeout
        /// The server answered with an error reply.
        case server
        /// The reply did not have the shape the caller expected.
        case unexpectedReply
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The leading upper-case word of a server error (`WRONGTYPE`, `NOSCRIPT`, `ERR`).
    public var serverErrorPrefix: String? {
        guard code == .server else { return nil }
        let word = message.prefix { $0 != " " }
        return word.isEmpty ? nil : String(word)
    }

    public var isNoScript: Bool { serverErrorPrefix == "NOSCRIPT" }
    public var isReadOnly: Bool { serverErrorPrefix == "READONLY" }
    public var isWrongType: Bool { serverErrorPrefix == "WRONGTYPE" }
    public var isUnblocked: Bool { serverErrorPrefix == "UNBLOCKED" }
    public var isLoading: Bool { serverErrorPrefix == "LOADING" }
    /// Redis at `maxmemory` with the `noeviction` policy refused a command that adds data.
    public var isOutOfMemory: Bool { serverErrorPrefix == "OOM" }

    /// True when retrying on a fresh connection (perhaps to a new master) may succeed.
    public var isConnectionProblem: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .timeout: return true
        case .server: return isReadOnly || isUnblocked || isLoading || serverErrorPrefix == "MASTERDOWN"
        case .invalidConfiguration, .unexpectedReply: return false
        }
    }

    public var description: String {
        switch code {
        case .invalidConfiguration: return "Redis configuration error: \(message)"
        case .connectionFailed: return "cannot connect to Redis: \(message)"
        case .connectionLost: return "lost the connection to Redis: \(message)"
        case .timeout: return "Redis did not answer in time: \(message)"
        case .server where isOutOfMemory:
            return "Redis is out of memory (maxmemory reached, policy noeviction) and refused the write; nothing was stored: \(message)"
        case .server: return "Redis error: \(message)"
        case .unexpectedReply: return "unexpected Redis reply: \(message)"
        }
    }
}
