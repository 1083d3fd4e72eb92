/// One RESP2 reply. Errors nested in arrays (from `EXEC` or a pipeline) stay values;
/// a top-level error reply of a single command is thrown as `RedisError` instead.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    case null
    case array([RedisReply])
}

extension RedisReply {
    public var isNull: Bool { self == .null }

    /// Bulk or status strings as text (bytes decoded as UTF-8).
    public var string: String? {
        switch self {
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let s): return s
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// Integers, and bulk strings holding an integer (as `GET` of a counter returns).
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(i)
        case .bulkString(let bytes): return Int(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .bulkString(let bytes): return Double(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Array elements as strings; nil elements are skipped.
    public var strings: [String] {
        array?.compactMap(\.string) ?? []
    }

    /// The error inside an error reply, for pipelined results.
    public var error: RedisError? {
        if case .error(let message) = self { return RedisError(.server, message) }
        return nil
    }

    /// Throws when the reply is an error reply; returns it unchanged otherwise.
    public func throwingError() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError(.server, message) }
        return self
    }
}
