import CHiredis

// Redis reply conversion: bytes a server could send, read by hiredis's reader and
// converted with RedisConnection.convert. Invariant: converting is idempotent through RESP2
// (encode the converted reply, read and convert it again: the same reply).
// Replies announcing more than 1M elements or bytes are skipped: hiredis 0.14 allocates
// what the header announces, which is the trusted server's business, not parsing.

func encode(_ reply: RedisReply, _ out: inout [UInt8]) {
    switch reply {
    case .status(let s): out += Array("+".utf8) + Array(s.utf8) + [13, 10]
    case .error(let s): out += Array("-".utf8) + Array(s.utf8) + [13, 10]
    case .integer(let i): out += Array(":\(i)\r\n".utf8)
    case .bulkString(let b): out += Array("$\(b.count)\r\n".utf8) + b + [13, 10]
    case .null: out += Array("$-1\r\n".utf8)
    case .array(let items):
        out += Array("*\(items.count)\r\n".utf8)
        for item in items { encode(item, &out) }
    }
}

func readAll(_ bytes: [UInt8]) -> [RedisReply]? {
    guard let reader = redisReaderCreate() else { return nil }
    defer { redisReaderFree(reader) }
    let fed = bytes.withUnsafeBufferPointer { buffer in
        buffer.baseAddress.map { base in base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { redisReaderFeed(reader, $0, buffer.count) } } ?? 0
    }
    guard fed == REDIS_OK else { return nil }
    var replies: [RedisReply] = []
    while true {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { return replies }
        guard let raw else { return replies }
        replies.append(RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self)))
        freeReplyObject(raw)
    }
}

/// True when a `*N` or `$N` header announces more than a million.
func announcesHuge(_ bytes: [UInt8]) -> Bool {
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "*") || bytes[i] == UInt8(ascii: "$") {
            var j = i + 1, digits = 0
            while j < bytes.count, bytes[j] >= 48, bytes[j] <= 57 { digits += 1; j += 1 }
            if digits > 6 { return true }
        }
        i += 1
    }
    return false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedisReply(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if announcesHuge(bytes) { return 0 }
    guard let replies = readAll(bytes) else { return 0 }
    for reply in replies {
        _ = (reply.string, reply.bytes, reply.int, reply.double, reply.strings, reply.error, reply.isNull)
        var out: [UInt8] = []
        encode(reply, &out)
        guard let again = readAll(out), again.count == 1 else { fatalError("invariant: the re-encoded reply does not read back as one reply") }
        guard again[0] == reply else { fatalError("invariant: convert(read(encode(r))) != r for \(reply)") }
    }
    return 0
}
