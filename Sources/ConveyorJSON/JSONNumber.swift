/// A JSON number kept as its literal text, so `1700000000.123456789` or an integer wider
/// than 53 bits survives a round trip exactly.
public struct JSONNumber: Sendable, Hashable {
    public let text: String

    /// Wraps literal text the caller has already checked is a JSON number.
    public init(uncheckedText text: String) { self.text = text }

    public init(_ value: Int) { text = String(value) }
    public init(_ value: Int64) { text = String(value) }

    public init(_ value: Double) {
        if value.isFinite {
            if value == value.rounded(.towardZero), abs(value) < 1e15 {
                text = String(Int64(value))
            } else {
                text = String(value)
            }
        } else {
            text = "0"  // JSON has no NaN or infinity
        }
    }

    public var intValue: Int? {
        if let i = Int(text) { return i }
        guard let d = Double(text), d == d.rounded(.towardZero), abs(d) < 9.2e18 else { return nil }
        return Int(d)
    }

    public var doubleValue: Double { Double(text) ?? 0 }

    public var isInteger: Bool { Int(text) != nil }
}
