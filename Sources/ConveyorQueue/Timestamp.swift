import ConveyorJSON
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Sidekiq timestamps: floats are epoch seconds (Sidekiq ≤ 7, and what Conveyor writes),
/// integers beyond 10^11 are epoch milliseconds (Sidekiq 8). Both read as seconds.
public enum Timestamp {
    public static func now() -> Double { Date().timeIntervalSince1970 }

    public static func seconds(from value: JSONValue?) -> Double? {
        guard case .number(let number)? = value else {
            if case .string(let text)? = value { return Double(text).map(normalise) }
            return nil
        }
        let text = number.text
        if text.contains(".") || text.contains("e") || text.contains("E") {
            return Double(text)
        }
        return Double(text).map(normalise)
    }

    private static func normalise(_ value: Double) -> Double {
        value > 100_000_000_000 ? value / 1000 : value
    }

    /// A float-seconds JSON number, as Ruby's `Time.now.to_f` writes it.
    public static func json(_ seconds: Double) -> JSONValue {
        var text = String(seconds)
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return .number(JSONNumber(uncheckedText: text))
    }

    /// `YYYY-MM-DD` of the UTC day, for the daily `stat:` keys.
    public static func utcDay(_ seconds: Double) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let month = parts.tm_mon + 1, day = parts.tm_mday
        return "\(parts.tm_year + 1900)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
    }
}
