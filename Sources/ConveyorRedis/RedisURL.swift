/// The parts of a `redis://` or `unix://` URL, split by hand (RFC 3986's generic syntax,
/// restricted to what Redis URLs use) so that a worker need not load a general URL parser.
/// User, password and query values are percent-decoded; the host keeps IPv6 brackets off.
struct RedisURL {
    var scheme: String
    var user: String?
    var password: String?
    var host: String?
    var port: Int?
    var path: String
    var query: [(name: String, value: String)]

    struct Invalid: Error {}

    init(_ text: String) throws(Invalid) {
        guard let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].hasPrefix("//") else { throw Invalid() }
        let schemeText = text[..<colon]
        guard let first = schemeText.first, first.isASCII, first.isLetter,
              schemeText.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { throw Invalid() }
        scheme = schemeText.lowercased()
        var rest = text[text.index(colon, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var queryText: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        path = try Self.decode(rest[slash...])
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let separator = userInfo.firstIndex(of: ":") {
                user = try Self.decode(userInfo[..<separator])
                password = try Self.decode(userInfo[userInfo.index(after: separator)...])
            } else {
                user = try Self.decode(userInfo)
            }
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Invalid() }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid() }
                portText = after.dropFirst()
            }
        } else if let separator = authority.lastIndex(of: ":") {
            host = String(authority[..<separator])
            portText = authority[authority.index(after: separator)...]
        } else {
            host = String(authority)
        }
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(portText) else { throw Invalid() }
            port = number
        }
        query = []
        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = pair.firstIndex(of: "=") {
                query.append((try Self.decode(pair[..<equals]), try Self.decode(pair[pair.index(after: equals)...])))
            } else {
                query.append((try Self.decode(pair), ""))
            }
        }
    }

    /// Percent-decoding; `%` not followed by two hex digits, or bytes that are not UTF-8, are invalid.
    static func decode(_ text: Substring) throws(Invalid) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(Self.hexValue), let low = utf8.next().flatMap(Self.hexValue) else { throw Invalid() }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw Invalid() }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
