/// A command as binary-safe arguments, packed into one byte buffer so sending it costs two
/// allocations however many arguments it has.
public struct RedisCommand: Sendable {
    var buffer: [UInt8] = []
    var ends: [Int] = []

    public init(_ name: String) {
        buffer.reserveCapacity(64)
        ends.reserveCapacity(4)
        append(name)
    }

    public init(_ arguments: [any RedisArgumentConvertible]) {
        for argument in arguments { argument.appendRedisArgument(to: &self) }
    }

    public var argumentCount: Int { ends.count }

    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { buffer.append(contentsOf: $0) }
        ends.append(buffer.count)
    }

    public mutating func append(_ string: Substring) {
        buffer.append(contentsOf: string.utf8)
        ends.append(buffer.count)
    }

    public mutating func append<Bytes: Sequence<UInt8>>(bytes: Bytes) {
        buffer.append(contentsOf: bytes)
        ends.append(buffer.count)
    }

    public mutating func append(_ value: Int) { append(String(value)) }

    public mutating func append(_ value: Double) {
        append(value.isFinite ? String(value) : (value > 0 ? "+inf" : "-inf"))
    }

    public mutating func append(_ argument: some RedisArgumentConvertible) {
        argument.appendRedisArgument(to: &self)
    }

    /// The arguments, decoded for logs and tests.
    public var arguments: [String] {
        var start = 0
        return ends.map { end in
            defer { start = end }
            return String(decoding: buffer[start..<end], as: UTF8.self)
        }
    }

    /// Calls `body` with hiredis-style `argc`, `argv` and `argvlen`.
    func withArgv<R>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        let count = ends.count
        return buffer.withUnsafeBufferPointer { bytes in
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: max(count, 1)) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: max(count, 1)) { lengths in
                    // An empty buffer has no base address; any valid pointer serves for
                    // zero-length arguments.
                    let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(RedisCommand.emptyByte))
                    var start = 0
                    for i in 0..<count {
                        argv[i] = (base + start).assumingMemoryBound(to: CChar.self)
                        lengths[i] = ends[i] - start
                        start = ends[i]
                    }
                    return body(Int32(count), argv.baseAddress!, lengths.baseAddress!)
                }
            }
        }
    }

    nonisolated(unsafe) private static let emptyByte: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
}

/// Values that can be a command argument.
public protocol RedisArgumentConvertible {
    func appendRedisArgument(to command: inout RedisCommand)
}

extension String: RedisArgumentConvertible {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Substring: RedisArgumentConvertible {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Int: RedisArgumentConvertible {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Double: RedisArgumentConvertible {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(self) }
}

extension Array: RedisArgumentConvertible where Element == UInt8 {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(bytes: self) }
}

extension ArraySlice: RedisArgumentConvertible where Element == UInt8 {
    public func appendRedisArgument(to command: inout RedisCommand) { command.append(bytes: self) }
}
