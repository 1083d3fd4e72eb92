import ConveyorJSON

// The schedule file (YAML). Invariants: any text either fails with a Failure or yields a
// document {"entries": [...]} whose entries each have a string name and a line >= 0, and
// which survives a JSON round trip. Never a crash, however deep or odd the YAML.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScheduleYAML(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size <= 4096 else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let document = try? ScheduleYAML.document(yaml: text) else { return 0 }
    guard let entries = document["entries"]?.arrayValue else { fatalError("invariant: no entries array") }
    for entry in entries {
        guard entry["name"]?.stringValue != nil, let line = entry["line"]?.intValue, line >= 0 else { fatalError("invariant: entry without name or line: \(entry)") }
    }
    guard let again = try? JSONValue.parse(document.serializedBytes()), again == document else { fatalError("invariant: the document's JSON does not round-trip") }
    return 0
}
