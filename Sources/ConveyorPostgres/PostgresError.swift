/// A PostgreSQL failure. `description` shows the SQLSTATE and the server's primary
/// message only: never the SQL text, never bound parameters, never DETAIL (which can echo
/// row values); those stay in their own fields for whoever needs them.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidConfiguration
        case connectionFailed
        case connectionLost
        /// The server rejected the statement; `sqlState` says why.
        case server
        /// A value in a result could not be decoded as the requested type.
        case decoding
        /// A table or column name was refused (bad shape or not in the catalog).
        case invalidIdentifier
        /// A bound parameter cannot be sent (for example text containing a NUL byte).
        case invalidParameter
    }

    public let code: Code
    public let message: String
    public var sqlState: String?
    public var detail: String?
    public var hint: String?
    public var severity: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil, severity: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.severity = severity
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `statement_timeout` (57014 query_canceled) or `lock_timeout` (55P03).
    public var isTimeout: Bool { sqlState == "57014" || sqlState == "55P03" }
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The connection is gone or the server is shutting down / starting up.
    public var isConnectionProblem: Bool {
        switch code {
        case .connectionFailed, .connectionLost: return true
        case .server:
            guard let state = sqlState else { return false }
            return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
        default: return false
        }
    }

    public var description: String {
        switch code {
        case .server: return "PostgreSQL error \(sqlState ?? "?????"): \(message)"
        case .connectionFailed: return "cannot connect to PostgreSQL: \(message)"
        case .connectionLost: return "lost the connection to PostgreSQL: \(message)"
        case .invalidConfiguration: return "PostgreSQL configuration error: \(message)"
        case .decoding: return "cannot decode PostgreSQL value: \(message)"
        case .invalidIdentifier: return message
        case .invalidParameter: return "invalid query parameter: \(message)"
        }
    }
}
