import ConveyorJSON

// JSON parser and JobPayload decoding. Invariants (true of any correct parser/printer pair):
// - a document that parses serializes to text that parses to the same value;
// - serializing is stable: serialize(parse(serialize(v))) == serialize(v);
// - a payload that decodes serializes to bytes that decode to the same payload.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONValue.parse(bytes) else {
        _ = JobPayload.decode(bytes)  // must not crash on invalid input either
        return 0
    }
    let text = value.serializedBytes()
    guard let again = try? JSONValue.parse(text) else {
        fatalError("invariant: serialized JSON does not parse: \(String(decoding: text, as: UTF8.self))")
    }
    guard again == value else { fatalError("invariant: parse(serialize(v)) != v for \(String(decoding: text, as: UTF8.self))") }
    guard again.serializedBytes() == text else { fatalError("invariant: serialization is not stable") }
    if case .success(let payload) = JobPayload.decode(bytes) {
        let raw = payload.serialized()
        guard case .success(let decoded) = JobPayload.decode(raw) else { fatalError("invariant: a decoded payload's serialization does not decode") }
        guard decoded == payload else { fatalError("invariant: payload round trip changed it") }
        _ = (payload.className, payload.args, payload.queue, payload.jid, payload.retry, payload.retryCount, payload.createdAt, payload.enqueuedAt, payload.displayClass)
    }
    return 0
}
