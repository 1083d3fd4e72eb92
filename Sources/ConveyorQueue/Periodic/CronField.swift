/// One field of a cron expression as the set of values it allows: `*`, `5`, `1-5`,
/// `*/15`, `10-50/20`, `5/15` (from 5 to the end), lists of these, and names for months
/// (`JAN`…) and weekdays (`SUN`…, 7 is Sunday too).
public struct CronField: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case second, minute, hour, dayOfMonth = "day of month", month, dayOfWeek = "day of week"

        var range: ClosedRange<Int> {
            switch self {
            case .second, .minute: return 0...59
            case .hour: return 0...23
            case .dayOfMonth: return 1...31
            case .month: return 1...12
            case .dayOfWeek: return 0...7
            }
        }

        var names: [String] {
            switch self {
            case .month: return ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            case .dayOfWeek: return ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
            default: return []
            }
        }

        /// The value a name stands for (months count from 1, weekdays from 0).
        func value(named name: String) -> Int? {
            names.firstIndex(of: name.uppercased()).map { self == .month ? $0 + 1 : $0 }
        }
    }

    public let kind: Kind
    /// Bit n set: value n allowed (weekday 7 is folded into 0).
    public let bits: UInt64
    /// False when the field starts with `*` (Vixie cron: a day field that is not
    /// restricted leaves the day to the other one).
    public let isRestricted: Bool

    /// The field allowing every value.
    public static func any(_ kind: Kind) -> CronField {
        try! CronField(parsing: "*", kind: kind)
    }

    public init(parsing text: String, kind: Kind) throws(CronError) {
        self.kind = kind
        guard !text.isEmpty else { throw CronError("the \(kind.rawValue) field is empty") }
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            bits |= try Self.parseItem(String(item), kind: kind, whole: text)
        }
        if kind == .dayOfWeek, bits & (1 << 7) != 0 { bits = (bits | 1) & ~(1 << 7) }
        self.bits = bits
        isRestricted = !text.hasPrefix("*")
    }

    public func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    /// The smallest allowed value ≥ `value`, if any.
    public func next(atOrAfter value: Int) -> Int? {
        guard value < 64 else { return nil }
        let masked = bits & (value <= 0 ? ~0 : ~((1 << UInt64(value)) - 1))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    public var first: Int? { next(atOrAfter: 0) }

    private static func parseItem(_ item: String, kind: Kind, whole: String) throws(CronError) -> UInt64 {
        let range = kind.range
        guard !item.isEmpty else { throw CronError("the \(kind.rawValue) field '\(whole)' has an empty list item") }
        let parts = item.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else { throw CronError("'\(item)' in the \(kind.rawValue) field has more than one '/'") }
        var step = 1
        if parts.count == 2 {
            guard let n = Int(parts[1]), n > 0 else {
                throw CronError("the step '\(parts[1])' in the \(kind.rawValue) field must be a positive number")
            }
            step = n
        }
        let base = parts[0]
        var low: Int, high: Int
        if base == "*" {
            (low, high) = (range.lowerBound, kind == .dayOfWeek ? 6 : range.upperBound)
        } else if let dash = base.firstIndex(of: "-"), dash != base.startIndex {
            low = try value(String(base[..<dash]), kind: kind)
            high = try value(String(base[base.index(after: dash)...]), kind: kind)
            guard low <= high else {
                throw CronError("the range '\(base)' in the \(kind.rawValue) field runs backwards")
            }
        } else {
            low = try value(base, kind: kind)
            high = parts.count == 2 ? range.upperBound : low  // `5/15`: from 5 to the end
        }
        var bits: UInt64 = 0
        var v = low
        while v <= high {
            bits |= 1 << UInt64(v)
            v += step
        }
        return bits
    }

    private static func value(_ text: String, kind: Kind) throws(CronError) -> Int {
        if let named = kind.value(named: text) { return named }
        guard let n = Int(text), text.allSatisfy(\.isASCII) else {
            if text.uppercased() == "L" || text.contains("#") || text.uppercased().hasSuffix("W") {
                throw CronError("'\(text)' in the \(kind.rawValue) field: L, W and # are not supported")
            }
            let names = kind.names.isEmpty ? "" : " or a name (\(kind.names.first!)…\(kind.names.last!))"
            throw CronError("'\(text)' in the \(kind.rawValue) field is not a number\(names)")
        }
        guard kind.range.contains(n) else {
            throw CronError("\(kind.rawValue) \(n) is out of range (\(kind.range.lowerBound)-\(kind.range.upperBound))")
        }
        return n
    }
}

/// Why a cron expression (or its time zone) was refused.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
