/// Masks the passwords in a libpq connection string for logs, splitting it by libpq's own
/// rules (`conninfo_parse` and `conninfo_uri_parse_options` in fe-connect.c), so that what
/// libpq would read as the password is exactly what is hidden and everything else reads
/// back unchanged: in a URI the userinfo ends at the first '@' before any '/', its password
/// after the first ':'; `password=` query parameters (keyword percent-decoded); in
/// `key=value` form values may be quoted with `'` and use `\` escapes, and an empty value
/// takes the next word. A string libpq could not parse is not shown at all.
/// `scripts/fuzz database_url` checks this against libpq's `PQconninfoParse`.
enum ConnectionStringMask {
    static let mask = Array("***".utf8)

    static func masked(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let spans: [Range<Int>]?
        if let prefix = uriPrefixLength(bytes) {
            spans = uriPasswordSpans(bytes, from: prefix)
        } else if bytes.contains(UInt8(ascii: "=")) {
            spans = keywordPasswordSpans(bytes)
        } else {
            return text  // a plain database name
        }
        guard let spans else { return "(a connection string libpq cannot parse, \(bytes.count) bytes; not shown, it may hold a password)" }
        var out = bytes
        for span in spans.sorted(by: { $0.lowerBound > $1.lowerBound }) { out.replaceSubrange(span, with: mask) }
        return String(decoding: out, as: UTF8.self)
    }

    static func uriPrefixLength(_ bytes: [UInt8]) -> Int? {
        for prefix in ["postgresql://", "postgres://"] where bytes.starts(with: prefix.utf8) { return prefix.utf8.count }
        return nil
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// `key=value ...`: the spans (quotes included) of non-empty `password` values; nil
    /// when libpq would refuse the string's shape.
    static func keywordPasswordSpans(_ b: [UInt8]) -> [Range<Int>]? {
        var spans: [Range<Int>] = []
        var i = 0
        while i < b.count {
            if isSpace(b[i]) { i += 1; continue }
            let nameStart = i
            while i < b.count, b[i] != UInt8(ascii: "="), !isSpace(b[i]) { i += 1 }
            let name = b[nameStart..<i]
            while i < b.count, isSpace(b[i]) { i += 1 }
            guard i < b.count, b[i] == UInt8(ascii: "=") else { return nil }  // missing '=' after a keyword
            i += 1
            while i < b.count, isSpace(b[i]) { i += 1 }
            let valueStart = i
            var valueLength = 0
            if i < b.count, b[i] == UInt8(ascii: "'") {
                i += 1
                while true {
                    guard i < b.count else { return nil }  // unterminated quoted string
                    if b[i] == UInt8(ascii: "\\") {
                        i += 1
                        if i < b.count { i += 1; valueLength += 1 }
                        continue
                    }
                    if b[i] == UInt8(ascii: "'") { i += 1; break }
                    i += 1
                    valueLength += 1
                }
            } else {
                while i < b.count, !isSpace(b[i]) {
                    if b[i] == UInt8(ascii: "\\") {
                        i += 1
                        if i < b.count { i += 1; valueLength += 1 }
                    } else {
                        i += 1
                        valueLength += 1
                    }
                }
            }
            let valueEnd = i
            if Array(name) == Array("password".utf8), valueLength > 0 { spans.append(valueStart..<valueEnd) }
        }
        return spans
    }

    /// A URI: the spans of a non-empty userinfo password and of non-empty `password`
    /// query values; nil when libpq would refuse the URI's shape.
    static func uriPasswordSpans(_ b: [UInt8], from start: Int) -> [Range<Int>]? {
        var spans: [Range<Int>] = []
        var p = start
        while p < b.count, b[p] != UInt8(ascii: "@"), b[p] != UInt8(ascii: "/") { p += 1 }
        if p < b.count, b[p] == UInt8(ascii: "@") {
            if let colon = b[start..<p].firstIndex(of: UInt8(ascii: ":")), colon + 1 < p {
                spans.append(colon + 1..<p)
            }
            p += 1
        } else {
            p = start
        }
        // Hosts: host[:port] separated by ',', IPv6 in brackets; they end at '/' or '?'.
        let stops: Set<UInt8> = [UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: ",")]
        repeat {
            if p < b.count, b[p] == UInt8(ascii: ",") { p += 1 }
            if p < b.count, b[p] == UInt8(ascii: "[") {
                let hostStart = p + 1
                guard let close = b[hostStart...].firstIndex(of: UInt8(ascii: "]")), close > hostStart else { return nil }
                p = close + 1
                guard p == b.count || stops.contains(b[p]) else { return nil }
            } else {
                while p < b.count, !stops.contains(b[p]) { p += 1 }
            }
            if p < b.count, b[p] == UInt8(ascii: ":") {
                p += 1
                while p < b.count, b[p] != UInt8(ascii: "/"), b[p] != UInt8(ascii: "?"), b[p] != UInt8(ascii: ",") { p += 1 }
            }
        } while p < b.count && b[p] == UInt8(ascii: ",")
        guard let question = b[p...].firstIndex(of: UInt8(ascii: "?")) else { return spans }
        var i = question + 1
        while i < b.count {
            let keyStart = i
            var equals: Int?
            while i < b.count, b[i] != UInt8(ascii: "&") {
                if b[i] == UInt8(ascii: "=") {
                    guard equals == nil else { return nil }  // extra '='
                    equals = i
                }
                i += 1
            }
            guard let equals else { return nil }  // missing '='
            guard let keyword = percentDecoded(b[keyStart..<equals]) else { return nil }
            if keyword == Array("password".utf8), equals + 1 < i { spans.append(equals + 1..<i) }
            if i < b.count { i += 1 }
        }
        return spans
    }

    static func percentDecoded(_ s: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var i = s.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while i < s.endIndex {
            if s[i] == UInt8(ascii: "%") {
                guard i + 2 < s.endIndex, let h = hex(s[i + 1]), let l = hex(s[i + 2]) else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }
}
