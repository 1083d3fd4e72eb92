/// A cron expression as sidekiq-cron (Fugit) writes it: five fields (minute hour
/// day-of-month month day-of-week), or six with a leading seconds field, or an alias
/// (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`),
/// optionally followed by a time zone (`0 3 * * * Europe/Berlin`; UTC when none).
///
/// Ticks are whole seconds. Days follow Vixie cron: when both day fields are restricted a
/// day matching either runs. Daylight saving: a wall time skipped by a jump forward runs
/// at the jump (once); a wall time repeated by a jump back runs once, at its first
/// occurrence, unless the hour field is `*`-based (then each occurrence runs, so `*/5 * * * *`
/// keeps its pace through the repeated hour).
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let source: String
    public let seconds: CronField
    public let minutes: CronField
    public let hours: CronField
    public let daysOfMonth: CronField
    public let months: CronField
    public let daysOfWeek: CronField
    public let zone: TimeZoneRules

    public var description: String { source }

    static let aliases: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses `text`; time zones are read from `zoneDirectory`.
    public init(parsing text: String, zoneDirectory: String = "/usr/share/zoneinfo") throws(CronError) {
        source = text
        var tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !tokens.isEmpty else { throw CronError("the cron expression is empty") }
        if tokens[0].hasPrefix("@") {
            guard let expansion = Self.aliases[tokens[0].lowercased()] else {
                throw CronError("'\(tokens[0])' is not a cron alias (use @yearly, @monthly, @weekly, @daily or @hourly)")
            }
            guard tokens.count <= 2 else { throw CronError("after '\(tokens[0])' only a time zone may follow") }
            tokens = expansion.split(separator: " ").map(String.init) + tokens.dropFirst()
        }
        var zoneName: String?
        if tokens.count == 7 || (tokens.count == 6 && (try? CronField(parsing: tokens[5], kind: .dayOfWeek)) == nil) {
            zoneName = tokens.removeLast()
        }
        guard tokens.count == 5 || tokens.count == 6 else {
            throw CronError("expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or an @alias; found \(tokens.count)")
        }
        if tokens.count == 5 { tokens.insert("0", at: 0) }
        seconds = try CronField(parsing: tokens[0], kind: .second)
        minutes = try CronField(parsing: tokens[1], kind: .minute)
        hours = try CronField(parsing: tokens[2], kind: .hour)
        daysOfMonth = try CronField(parsing: tokens[3], kind: .dayOfMonth)
        months = try CronField(parsing: tokens[4], kind: .month)
        daysOfWeek = try CronField(parsing: tokens[5], kind: .dayOfWeek)
        zone = try zoneName.map { name throws(CronError) in try TimeZoneRules.named(name, directory: zoneDirectory) } ?? .utc
        // Refuse expressions that never match (`0 0 30 2 *`): look 28 years ahead, a full
        // cycle of weekdays and leap years.
        guard nextMatch(atOrAfter: CivilTime(year: 2001, month: 1, day: 1).localSeconds) != nil else {
            throw CronError("'\(text)' never matches a date")
        }
    }

    // MARK: - Wall-clock matching

    func dayMatches(year: Int, month: Int, day: Int) -> Bool {
        let dom = daysOfMonth.contains(day)
        let dow = daysOfWeek.contains(CivilTime.weekday(year: year, month: month, day: day))
        if daysOfMonth.isRestricted && daysOfWeek.isRestricted { return dom || dow }
        return dom && dow
    }

    /// The first wall time at or after `local` (local seconds) that matches, within 28
    /// years; nil if none.
    func nextMatch(atOrAfter local: Int64) -> Int64? {
        var t = CivilTime(localSeconds: local)
        let lastYear = t.year + 28
        while t.year <= lastYear {
            guard let month = months.next(atOrAfter: t.month) else {
                t = CivilTime(year: t.year + 1, month: 1, day: 1)
                continue
            }
            if month != t.month {
                t = CivilTime(year: t.year, month: month, day: 1)
            }
            if t.day > CivilTime.daysInMonth(year: t.year, month: t.month) || !dayMatches(year: t.year, month: t.month, day: t.day) {
                t = Self.nextDay(t)
                continue
            }
            guard let hour = hours.next(atOrAfter: t.hour) else {
                t = Self.nextDay(t)
                continue
            }
            if hour != t.hour { t = CivilTime(year: t.year, month: t.month, day: t.day, hour: hour) }
            guard let minute = minutes.next(atOrAfter: t.minute) else {
                t = Self.nextHour(t)
                continue
            }
            if minute != t.minute { t = CivilTime(year: t.year, month: t.month, day: t.day, hour: t.hour, minute: minute) }
            guard let second = seconds.next(atOrAfter: t.second) else {
                t = Self.nextMinute(t)
                continue
            }
            t.second = second
            return t.localSeconds
        }
        return nil
    }

    static func nextDay(_ t: CivilTime) -> CivilTime {
        if t.day < CivilTime.daysInMonth(year: t.year, month: t.month) { return CivilTime(year: t.year, month: t.month, day: t.day + 1) }
        return t.month < 12 ? CivilTime(year: t.year, month: t.month + 1, day: 1) : CivilTime(year: t.year + 1, month: 1, day: 1)
    }

    static func nextHour(_ t: CivilTime) -> CivilTime {
        t.hour < 23 ? CivilTime(year: t.year, month: t.month, day: t.day, hour: t.hour + 1) : nextDay(t)
    }

    static func nextMinute(_ t: CivilTime) -> CivilTime {
        t.minute < 59 ? CivilTime(year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute + 1) : nextHour(t)
    }

    // MARK: - Ticks (instants)

    /// The first tick strictly after `instant` (epoch seconds), or nil if there is none.
    public func nextTick(after instant: Double) -> Int64? {
        var i = Int64((instant + 1).rounded(.down))
        var segment = zone.segment(containing: i)
        for _ in 0..<200 {
            let offset = Int64(segment.offset)
            if i == segment.start, let previous = segment.previousOffset.map(Int64.init), offset > previous {
                // A jump forward: wall times in [start + previous, start + offset) never occur;
                // if one of them matches, it runs at the jump.
                if let skipped = nextMatch(atOrAfter: segment.start + previous), skipped < segment.start + offset { return i }
            }
            var from = i + offset
            if let previous = segment.previousOffset.map(Int64.init), previous > offset, hours.isRestricted {
                // A jump back: wall times before start + previous occurred already.
                from = max(from, segment.start + previous)
            }
            if let local = nextMatch(atOrAfter: from), local - offset < segment.end { return local - offset }
            guard segment.end != .max else { return nil }
            i = segment.end
            segment = zone.segment(containing: i)
        }
        return nil
    }

    /// The last tick at or before `instant`, or nil if there is none within 28 years.
    public func previousTick(atOrBefore instant: Double) -> Int64? {
        let now = Int64(instant.rounded(.down))
        // Widen the window until it holds a tick, then walk forward to the last one.
        for window: Int64 in [1, 60, 3600, 86400, 86400 * 32, 86400 * 367, 86400 * 366 * 29] {
            guard var tick = nextTick(after: Double(now - window)), tick <= now else { continue }
            while let next = nextTick(after: Double(tick)), next <= now { tick = next }
            return tick
        }
        return nil
    }

    /// How many ticks lie strictly between `from` and `to`, counting at most `limit`.
    public func ticks(between from: Int64, and to: Int64, limit: Int = 10_000) -> Int {
        var count = 0
        var tick = from
        while count < limit, let next = nextTick(after: Double(tick)), next < to {
            count += 1
            tick = next
        }
        return count
    }
}
