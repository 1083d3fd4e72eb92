import Testing

@testable import ConveyorQueue

/// Epoch seconds of a UTC wall time.
func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Int64 {
    CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).localSeconds
}

func cron(_ text: String) throws -> CronExpression { try CronExpression(parsing: text) }

@Suite("Cron expressions: parsing")
struct CronParsingTests {
    @Test("five fields get a zero seconds field; six fields put seconds first")
    func fieldCounts() throws {
        let five = try cron("*/5 * * * *")
        #expect(five.seconds.bits == 1 && five.minutes.contains(55) && !five.minutes.contains(56))
        let six = try cron("*/20 * * * * *")
        #expect(six.seconds.contains(40) && !six.seconds.contains(41) && six.minutes.bits == (1 << 60) - 1)
    }

    @Test("lists, ranges, steps, names and Sunday as 7", arguments: [
        ("0 0 1,15 * *", CronField.Kind.dayOfMonth, [1, 15]),
        ("0 9-17/4 * * *", .hour, [9, 13, 17]),
        ("5/20 * * * *", .minute, [5, 25, 45]),
        ("0 0 * JAN-MAR,dec *", .month, [1, 2, 3, 12]),
        ("0 0 * * MON-FRI", .dayOfWeek, [1, 2, 3, 4, 5]),
        ("0 0 * * 5-7", .dayOfWeek, [0, 5, 6]),
    ])
    func fieldValues(text: String, kind: CronField.Kind, values: [Int]) throws {
        let expression = try cron(text)
        let field: CronField
        switch kind {
        case .dayOfMonth: field = expression.daysOfMonth
        case .hour: field = expression.hours
        case .minute: field = expression.minutes
        case .month: field = expression.months
        default: field = expression.daysOfWeek
        }
        #expect((0..<64).filter(field.contains) == values)
    }

    @Test("aliases expand, and may carry a time zone", arguments: [
        ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"),
    ])
    func aliases(alias: String, expansion: String) throws {
        let a = try cron(alias), b = try cron(expansion)
        #expect(a.minutes == b.minutes && a.hours == b.hours && a.daysOfMonth == b.daysOfMonth && a.months == b.months && a.daysOfWeek == b.daysOfWeek)
        #expect(try cron(alias + " Europe/Berlin").zone.name == "Europe/Berlin")
    }

    @Test("a trailing time zone is read from tzdata; none means UTC")
    func timeZones() throws {
        #expect(try cron("0 3 * * * Europe/Berlin").zone.name == "Europe/Berlin")
        #expect(try cron("0 0 3 * * * America/Chicago").zone.name == "America/Chicago")
        #expect(try cron("0 3 * * * UTC").zone == .utc)
        #expect(try cron("0 3 * * *").zone == .utc)
    }

    @Test("invalid expressions are refused with the reason", arguments: [
        ("0 25 * * *", "hour 25 is out of range (0-23)"),
        ("* * * *", "expected 5 fields"),
        ("0 0 30 2 *", "never matches"),
        ("@reboot", "not a cron alias"),
        ("0 3 * * * Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("0 3 * * * ../../etc/passwd", "unknown time zone"),
        ("0 0 L * *", "L, W and # are not supported"),
        ("0 5-1 * * *", "runs backwards"),
        ("*/0 * * * *", "must be a positive number"),
        ("0 0 * * FUNDAY", "not a number or a name"),
        ("", "empty"),
        ("1,,2 * * * *", "empty list item"),
    ])
    func refused(text: String, reason: String) {
        #expect {
            try cron(text)
        } throws: { error in
            (error as? CronError)?.message.contains(reason) == true
        }
    }
}

@Suite("Cron expressions: next and previous ticks")
struct CronTickTests {
    @Test("UTC: the next tick is strictly after the given time", arguments: [
        ("*/5 * * * *", utc(2026, 1, 10, 12, 0, 0), utc(2026, 1, 10, 12, 5)),
        ("*/5 * * * *", utc(2026, 1, 10, 12, 4, 59), utc(2026, 1, 10, 12, 5)),
        ("0 3 * * *", utc(2026, 12, 31, 3, 0, 1), utc(2027, 1, 1, 3)),
        ("*/15 * * * * *", utc(2026, 1, 1, 0, 0, 14), utc(2026, 1, 1, 0, 0, 15)),
        ("* * * * * *", utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 1)),
        ("0 0 29 2 *", utc(2026, 1, 1), utc(2028, 2, 29)),
        ("@weekly", utc(2026, 1, 1), utc(2026, 1, 4)),  // the first Sunday of 2026
        ("0 0 13 * 5", utc(2026, 2, 1), utc(2026, 2, 6)),  // day-of-month or weekday (Vixie): Friday the 6th first
        ("0 0 13 * 5", utc(2026, 2, 7), utc(2026, 2, 13)),
        ("0 0 */10 * MON", utc(2026, 6, 1, 1), utc(2026, 8, 31)),  // a `*`-based day field: both must match
    ])
    func utcTicks(text: String, after: Int64, expected: Int64) throws {
        #expect(try cron(text).nextTick(after: Double(after)) == expected)
    }

    @Test("fractions of a second count: the tick at 12:05:00 is after 12:04:59.9")
    func fractional() throws {
        #expect(try cron("*/5 * * * *").nextTick(after: Double(utc(2026, 1, 1, 12, 4, 59)) + 0.9) == utc(2026, 1, 1, 12, 5))
    }

    @Test("a time zone shifts ticks by its offset, winter and summer")
    func zoneOffsets() throws {
        let berlin = try cron("0 3 * * * Europe/Berlin")
        #expect(berlin.nextTick(after: Double(utc(2026, 1, 10, 12))) == utc(2026, 1, 11, 2))
        #expect(berlin.nextTick(after: Double(utc(2026, 7, 10, 12))) == utc(2026, 7, 11, 1))
        let chicago = try cron("30 8 * * 1-5 America/Chicago")
        #expect(chicago.nextTick(after: Double(utc(2026, 1, 9, 15))) == utc(2026, 1, 12, 14, 30))  // Friday after 8:30 CST → Monday
    }

    @Test("a wall time skipped by the spring jump runs once, at the jump")
    func springGap() throws {
        let expression = try cron("30 2 * * * Europe/Berlin")
        // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 does not exist.
        #expect(expression.nextTick(after: Double(utc(2026, 3, 28, 12))) == utc(2026, 3, 29, 1))
        #expect(expression.nextTick(after: Double(utc(2026, 3, 29, 1))) == utc(2026, 3, 30, 0, 30))
        let everyTen = try cron("*/10 * * * * Europe/Berlin")
        #expect(everyTen.nextTick(after: Double(utc(2026, 3, 29, 0, 55))) == utc(2026, 3, 29, 1))
        #expect(everyTen.nextTick(after: Double(utc(2026, 3, 29, 1))) == utc(2026, 3, 29, 1, 10))
    }

    @Test("a wall time repeated by the autumn jump runs once for a fixed hour, twice for a `*` hour")
    func autumnFold() throws {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:00-02:59 happen twice.
        let fixed = try cron("30 2 * * * Europe/Berlin")
        #expect(fixed.nextTick(after: Double(utc(2026, 10, 24, 12))) == utc(2026, 10, 25, 0, 30))
        #expect(fixed.nextTick(after: Double(utc(2026, 10, 25, 0, 30))) == utc(2026, 10, 26, 1, 30))
        let halfHourly = try cron("*/30 * * * * Europe/Berlin")
        var ticks: [Int64] = []
        var t = Double(utc(2026, 10, 25, 0, 15))
        for _ in 0..<4 {
            let next = try #require(halfHourly.nextTick(after: t))
            ticks.append(next)
            t = Double(next)
        }
        #expect(ticks == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2)])
    }

    @Test("the previous tick is the last one at or before the time")
    func previous() throws {
        let daily = try cron("0 3 * * *")
        #expect(daily.previousTick(atOrBefore: Double(utc(2026, 1, 10, 15))) == utc(2026, 1, 10, 3))
        #expect(daily.previousTick(atOrBefore: Double(utc(2026, 1, 10, 3))) == utc(2026, 1, 10, 3))
        #expect(daily.previousTick(atOrBefore: Double(utc(2026, 1, 10, 2, 59, 59))) == utc(2026, 1, 9, 3))
        #expect(try cron("* * * * * *").previousTick(atOrBefore: Double(utc(2026, 1, 1)) + 0.7) == utc(2026, 1, 1))
        #expect(try cron("0 0 1 1 *").previousTick(atOrBefore: Double(utc(2026, 6, 1))) == utc(2026, 1, 1))
        #expect(try cron("0 0 29 2 *").previousTick(atOrBefore: Double(utc(2027, 6, 1))) == utc(2024, 2, 29))
    }

    @Test("ticks between two times are counted, up to a limit")
    func counting() throws {
        let minutely = try cron("* * * * *")
        #expect(minutely.ticks(between: utc(2026, 1, 1, 10), and: utc(2026, 1, 1, 10, 5)) == 4)
        #expect(minutely.ticks(between: utc(2026, 1, 1, 10), and: utc(2026, 1, 1, 10, 1)) == 0)
        #expect(minutely.ticks(between: utc(2026, 1, 1), and: utc(2026, 2, 1), limit: 100) == 100)
    }
}
