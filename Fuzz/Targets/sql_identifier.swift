// SQL identifier validation and quoting. Invariants, from PostgreSQL's lexical rules
// (a quoted identifier is "…" with "" standing for one "):
// - an accepted name is 1…63 bytes, has no control characters, no SQL punctuation
//   (; ' \ ( ) , . * =) and no leading/trailing space;
// - its quoted form unquotes (by those rules) to exactly the name, and is one token:
//   no unpaired quote inside;
// - QualifiedTableName(parsing:) of an accepted value's description gives it back.

func unquote(_ quoted: String) -> String? {
    var scalars = Array(quoted.unicodeScalars)
    guard scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" else { return nil }
    scalars.removeFirst()
    scalars.removeLast()
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
        if scalars[i] == "\"" {
            guard i + 1 < scalars.count, scalars[i + 1] == "\"" else { return nil }  // would end the token early
            out.append("\"")
            i += 2
        } else {
            out.append(scalars[i])
            i += 1
        }
    }
    return String(out)
}

let forbidden: Set<Unicode.Scalar> = [";", "'", "\\", "(", ")", ",", ".", "*", "="]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSQLIdentifier(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let identifier = try? SQLIdentifier(text) {
        let name = identifier.name
        guard name == text, (1...63).contains(name.utf8.count) else { fatalError("invariant: accepted name changed or has a bad length: \(name)") }
        guard !name.unicodeScalars.contains(where: { forbidden.contains($0) || $0.value < 0x20 || $0.value == 0x7F || $0.properties.generalCategory == .control }) else {
            fatalError("invariant: accepted a name with punctuation or a control character: \(name.debugDescription)")
        }
        guard name.first != " ", name.last != " " else { fatalError("invariant: accepted leading/trailing space") }
        guard unquote(identifier.quoted) == name else { fatalError("invariant: \(identifier.quoted) does not unquote to \(name.debugDescription)") }
    }
    if let table = try? QualifiedTableName(parsing: text) {
        guard let again = try? QualifiedTableName(parsing: table.description), again == table else {
            fatalError("invariant: \(table.description) does not parse back to the same table name")
        }
        guard let tableName = unquote(table.table.quoted), tableName == table.table.name else { fatalError("invariant: table part quoting") }
    }
    return 0
}
