import ConveyorJSON
import Foundation

/// How values look on the pages.
enum WebFormat {
    static func number(_ value: Int) -> String {
        let digits = String(abs(value))
        var result = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { result.append(",") }
            result.append(c)
        }
        return (value < 0 ? "-" : "") + String(result.reversed())
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7200 { return String(format: "%.1f min", seconds / 60) }
        if seconds < 172_800 { return String(format: "%.1f h", seconds / 3600) }
        return String(format: "%.1f days", seconds / 86400)
    }

    static func time(_ epoch: Double) -> String {
        guard epoch > 0 else { return "-" }
        var t = time_t(epoch)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    static func time(_ date: Date?) -> String { date.map { time($0.timeIntervalSince1970) } ?? "-" }

    /// "3.2 s ago" / "in 4.0 min".
    static func relative(_ epoch: Double, now: Double = Date().timeIntervalSince1970) -> String {
        guard epoch > 0 else { return "-" }
        let delta = epoch - now
        return delta >= 0 ? "in \(duration(delta))" : "\(duration(-delta)) ago"
    }

    static func kilobytes(_ kb: Int) -> String {
        kb >= 1024 ? String(format: "%.1f MiB", Double(kb) / 1024) : "\(kb) KiB"
    }

    /// JSON arguments, cut to a readable length (escaping happens in the template).
    static func arguments(_ value: JSONValue, limit: Int = 300) -> String {
        let text = value.serialized()
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.2f%%", $0) } ?? "unknown"
    }
}
