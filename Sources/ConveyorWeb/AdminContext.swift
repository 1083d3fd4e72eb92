import Hummingbird

/// Per-request state: the CSRF token forms must carry, and the parsed form of a POST.
public struct AdminContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var csrfToken = ""
    public var form: FormData = FormData()
    /// The client's address (for the audit trail), when the channel knows it.
    public var remoteAddress: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress.flatMap { $0.ipAddress ?? $0.pathname }
    }
}

/// An `application/x-www-form-urlencoded` body.
public struct FormData: Sendable {
    public private(set) var fields: [(String, String)] = []

    public init() {}

    public init(encoded text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            fields.append((key, value))
        }
    }

    public subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
