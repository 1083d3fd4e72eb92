#if canImport(Glibc)
import Glibc
#endif

/// The Redis keys Sidekiq's Metrics page reads for one UTC minute, in both layouts:
///
/// | | Sidekiq 7.3 | Sidekiq 8.x |
/// |---|---|---|
/// | counters, 1 minute (8 h) | `j|%Y%m%d|%-H:%-M` | `j|%y%m%d|%-H:%M` |
/// | counters, 10 minutes (3 days) | — | the 1-minute key without its last digit |
/// | histogram (8 h) | `<Class>-%d-%H:%-M` | `h|<Class>-%-d-%-H:%-M` |
///
/// The two versions' keys never coincide (four-digit vs two-digit year, `h|` prefix), so
/// writing both costs space but confuses neither reader.
public struct SidekiqMetricsKeys: Sendable, Equatable {
    public static let minuteTTL = 8 * 3600
    public static let tenMinuteTTL = 3 * 24 * 3600
    public static let histogramTTL = 8 * 3600

    public let year: Int, month: Int, day: Int, hour: Int, minute: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        (self.year, self.month, self.day, self.hour, self.minute) = (year, month, day, hour, minute)
    }

    /// The UTC minute an epoch time falls in.
    public init(epochSeconds: Double) {
        var time = time_t(epochSeconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        self.init(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min))
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }

    /// Sidekiq 7.3's per-minute counters: `j|20261201|9:5`.
    public var minuteKeyV7: String { "j|\(year)\(Self.two(month))\(Self.two(day))|\(hour):\(minute)" }

    /// Sidekiq 8's per-minute counters: `j|261201|9:05`.
    public var minuteKeyV8: String { "j|\(Self.two(year % 100))\(Self.two(month))\(Self.two(day))|\(hour):\(Self.two(minute))" }

    /// Sidekiq 8's 10-minute counters: `j|261201|9:0` (for 9:00–9:09).
    public var tenMinuteKeyV8: String { String(minuteKeyV8.dropLast()) }

    /// Sidekiq 7.3's histogram of a class: `NoopJob-01-09:5`.
    public func histogramKeyV7(_ className: String) -> String { "\(className)-\(Self.two(day))-\(Self.two(hour)):\(minute)" }

    /// Sidekiq 8's histogram of a class: `h|NoopJob-1-9:5`.
    public func histogramKeyV8(_ className: String) -> String { "h|\(className)-\(day)-\(hour):\(minute)" }
}
