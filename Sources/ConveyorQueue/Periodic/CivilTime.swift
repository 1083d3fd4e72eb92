/// A wall-clock time (proleptic Gregorian calendar, whole seconds) and its conversion to
/// and from "local seconds": seconds since 1970-01-01 00:00:00 of the same wall clock,
/// as if it were UTC. Pure arithmetic (Howard Hinnant's days-from-civil), no Foundation.
public struct CivilTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int  // 1...12
    public var day: Int  // 1...31
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// The civil time of `seconds` local seconds.
    public init(localSeconds seconds: Int64) {
        let days = Int(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400)
        let rest = Int(seconds - Int64(days) * 86400)
        (year, month, day) = Self.civil(fromDays: days)
        hour = rest / 3600
        minute = rest % 3600 / 60
        second = rest % 60
    }

    public var localSeconds: Int64 {
        Int64(Self.days(year: year, month: month, day: day)) * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// 0 = Sunday … 6 = Saturday.
    public var weekday: Int { Self.weekday(year: year, month: month, day: day) }

    public static func < (a: CivilTime, b: CivilTime) -> Bool { a.localSeconds < b.localSeconds }

    /// `2026-03-29 02:30:00`.
    public var description: String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(hour)):\(two(minute)):\(two(second))"
    }

    // MARK: - Calendar arithmetic

    public static func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public static func weekday(year: Int, month: Int, day: Int) -> Int {
        let d = days(year: year, month: month, day: day)
        return ((d % 7) + 11) % 7  // 1970-01-01 was a Thursday (4)
    }
}
