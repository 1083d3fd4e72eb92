import ConveyorJSON

/// Soft limits that slow a migration down instead of holding it: when an indicator
/// (replication lag, WAL generation rate) is over its limit, the pause between batches is
/// stretched in proportion to how far over it is — `max(interval, 1 s) × value / limit`,
/// at most `maximumPause` — and goes back to the interval as soon as the indicator is
/// within its limit again. Pure: readings in, the throttle (or none) out.
public enum Throttle {
    /// The longest pause a throttle imposes between two batches.
    public static let maximumPause: Double = 600
    /// The pause a throttle stretches when the migration's interval is shorter (0 = back to back).
    public static let minimumBase: Double = 1
    /// A throttled worker looks at its indicators again at least this often, so the
    /// throttle releases soon after the indicator falls, even during a long pause.
    public static let recheckInterval: Double = 2

    /// One indicator's value and its limit (a limit ≤ 0 turns the indicator off).
    public struct Reading: Sendable, Equatable {
        public var indicator: String
        public var value: Double
        public var limit: Double
        public var unit: String

        public init(indicator: String, value: Double, limit: Double, unit: String) {
            self.indicator = indicator
            self.value = value
            self.limit = limit
            self.unit = unit
        }

        public var ratio: Double { limit > 0 ? value / limit : 0 }
        public var isOver: Bool { limit > 0 && value > limit }
    }

    /// The throttle from the worst indicator over its limit, or nil when none is.
    public static func evaluate(_ readings: [Reading], interval: Double) -> ThrottleState? {
        guard let worst = readings.filter(\.isOver).max(by: { $0.ratio < $1.ratio }) else { return nil }
        let pause = min(maximumPause, max(interval, minimumBase) * worst.ratio)
        return ThrottleState(indicator: worst.indicator, value: worst.value, limit: worst.limit, unit: worst.unit, pauseSeconds: pause)
    }

    /// Bytes per second between two WAL positions `seconds` apart; nil without a usable span.
    public static func walRate(fromBytes: Double, toBytes: Double, seconds: Double) -> Double? {
        guard seconds > 0, toBytes >= fromBytes else { return nil }
        return (toBytes - fromBytes) / seconds
    }
}

/// Why and how much a migration is throttled, as stored in its `throttle` column.
public struct ThrottleState: Sendable, Equatable, CustomStringConvertible {
    public var indicator: String
    public var value: Double
    public var limit: Double
    public var unit: String
    /// The pause between batches while throttled.
    public var pauseSeconds: Double

    public init(indicator: String, value: Double, limit: Double, unit: String, pauseSeconds: Double) {
        self.indicator = indicator
        self.value = value
        self.limit = limit
        self.unit = unit
        self.pauseSeconds = pauseSeconds
    }

    public var json: JSONValue {
        [
            "indicator": .string(indicator), "value": JSONValue(value), "limit": JSONValue(limit), "unit": .string(unit),
            "pause_seconds": JSONValue(pauseSeconds),
        ]
    }

    public init?(json: JSONValue?) {
        guard let object = json?.objectValue, let indicator = object["indicator"]?.stringValue,
            let value = object["value"]?.doubleValue, let limit = object["limit"]?.doubleValue,
            let pause = object["pause_seconds"]?.doubleValue
        else { return nil }
        self.init(indicator: indicator, value: value, limit: limit, unit: object["unit"]?.stringValue ?? "", pauseSeconds: pause)
    }

    /// "ReplicationLag 20971520 bytes over the limit of 1048576 bytes: 20.0 s between batches".
    public var description: String {
        "\(indicator) \(Self.number(value)) \(unit) over the limit of \(Self.number(limit)) \(unit): \(Self.number(pauseSeconds, digits: 1)) s between batches"
    }

    static func number(_ value: Double, digits: Int = 0) -> String {
        if digits == 0 { return String(Int64(value.rounded())) }
        return String((value * 10).rounded() / 10)
    }
}
