import CLibPQ

// DATABASE_URL: the oracle is libpq itself. For every string PQconninfoParse accepts, the
// string displayName shows in logs must also parse, to the same options except that a
// non-empty password reads "***".

func conninfo(_ text: String) -> [String: String]? {
    var error: UnsafeMutablePointer<CChar>?
    guard let options = PQconninfoParse(text, &error) else {
        if let error { PQfreemem(error) }
        return nil
    }
    defer { PQconninfoFree(options) }
    var result: [String: String] = [:]
    var option = options
    while let keyword = option.pointee.keyword {
        if let value = option.pointee.val { result[String(cString: keyword)] = String(cString: value) }
        option += 1
    }
    return result
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatabaseURL(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeBufferPointer(start: data, count: size)
    guard !buffer.contains(0), let text = String(validating: buffer, as: UTF8.self), !text.isEmpty else { return 0 }
    let shown = PostgresConfiguration(connectionString: text).displayName
    guard let original = conninfo(text) else { return 0 }
    guard let masked = conninfo(shown) else { fatalError("invariant: libpq parses \(text) but not its display form \(shown)") }
    var expected = original
    if let password = original["password"], !password.isEmpty { expected["password"] = "***" }
    guard masked == expected else {
        fatalError("invariant: the display form differs from the masked original:\n  text:  \(text)\n  shown: \(shown)\n  original: \(original)\n  masked:   \(masked)")
    }
    return 0
}
