import ConveyorJSON

// The pasted GitLab rake argument. Invariant: for fields GitLab itself prints (class,
// table and column names of printable ASCII without , [ ] { } ' " \ or spaces, and JSON
// arguments whose serialization holds no ' or \), the form GitLab prints splits back into
// exactly those fields. Anything else must only not crash.

func gitLabPrintable(_ s: String) -> Bool {
    !s.isEmpty && s.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !",[]{}'\"\\".unicodeScalars.contains($0) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRakeArgument(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let fields = RakeArgument.fields(text) else { return 0 }
    guard fields.count == 3 || fields.count == 4, fields.prefix(3).allSatisfy({ !$0.isEmpty }) else { fatalError("invariant: bad field count") }
    guard fields.prefix(3).allSatisfy(gitLabPrintable) else { return 0 }
    var json = "[]"
    if fields.count == 4, !fields[3].isEmpty {
        guard let value = try? JSONValue.parse(fields[3]) else { return 0 }
        json = value.serialized()
    }
    guard !json.contains("'"), !json.contains("\\") else { return 0 }
    let printed = RakeArgument.gitLabForm(jobClass: fields[0], table: fields[1], column: fields[2], argumentsJSON: json)
    guard let again = RakeArgument.fields(printed) else { fatalError("invariant: GitLab's form \(printed) does not split") }
    guard again == [fields[0], fields[1], fields[2], json] else { fatalError("invariant: \(printed) split into \(again), not \([fields[0], fields[1], fields[2], json])") }
    return 0
}
