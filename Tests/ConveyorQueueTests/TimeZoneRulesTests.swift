import Testing

@testable import ConveyorQueue

@Suite("Time zones from tzdata (TZif)")
struct TimeZoneRulesTests {
    @Test("offsets in winter and summer, and in years after the file's explicit transitions (its POSIX rule)", arguments: [
        ("Europe/Berlin", utc(2026, 1, 15), 3600), ("Europe/Berlin", utc(2026, 7, 15), 7200),
        ("Europe/Berlin", utc(2100, 7, 15), 7200), ("Europe/Berlin", utc(2100, 12, 15), 3600),
        ("America/Chicago", utc(2026, 1, 15), -21600), ("America/Chicago", utc(2026, 7, 15), -18000),
        ("Australia/Sydney", utc(2026, 1, 15), 39600), ("Australia/Sydney", utc(2026, 7, 15), 36000),
        ("Australia/Sydney", utc(2090, 1, 15), 39600), ("Asia/Kolkata", utc(2026, 7, 15), 19800),
        ("Asia/Tokyo", utc(2200, 7, 15), 32400),
    ])
    func offsets(zone: String, instant: Int64, offset: Int) throws {
        #expect(try TimeZoneRules.named(zone).offset(at: instant) == offset)
    }

    @Test("the segment around a transition knows the offset before it")
    func segments() throws {
        let berlin = try TimeZoneRules.named("Europe/Berlin")
        let summer = berlin.segment(containing: utc(2026, 3, 29, 1))
        #expect(summer.start == utc(2026, 3, 29, 1) && summer.offset == 7200 && summer.previousOffset == 3600)
        #expect(summer.end == utc(2026, 10, 25, 1))
        let later = berlin.segment(containing: utc(2099, 8, 1))
        #expect(later.offset == 7200 && later.previousOffset == 3600 && later.start == utc(2099, 3, 29, 1))
    }

    @Test("POSIX rules: northern and southern hemisphere, explicit times")
    func posixRules() throws {
        let sydney = try #require(PosixTimeZoneRule(parsing: "AEST-10AEDT,M10.1.0,M4.1.0/3"))
        #expect(sydney.standardOffset == 36000 && sydney.daylight?.offset == 39600)
        let points = sydney.transitions(around: utc(2030, 6, 1))
        #expect(points.contains { $0.at == utc(2030, 4, 6, 16) && $0.offset == 36000 })  // 03:00 AEDT on Sunday 7 April
        #expect(PosixTimeZoneRule(parsing: "<+0330>-3:30")?.standardOffset == 12600)
        #expect(PosixTimeZoneRule(parsing: "EST5EDT,M3.2.0,M11.1.0")?.daylight?.offset == -14400)
        #expect(PosixTimeZoneRule(parsing: "nonsense,") == nil)
    }

    @Test("unknown names and files that are not TZif are refused")
    func refused() {
        #expect(throws: CronError.self) { try TimeZoneRules.named("Nowhere/Atlantis") }
        #expect(throws: CronError.self) { try TimeZoneRules(tzif: Array("not a zone".utf8), name: "x") }
        #expect(throws: CronError.self) { try TimeZoneRules(tzif: Array("TZif2".utf8) + [UInt8](repeating: 0, count: 10), name: "x") }
    }

    @Test("civil time conversions round-trip, weekdays included")
    func civil() {
        for seconds: Int64 in [0, -1, 951_782_400, 4_102_444_800, -86_400 * 365] {
            #expect(CivilTime(localSeconds: seconds).localSeconds == seconds)
        }
        #expect(CivilTime(localSeconds: 0).weekday == 4)
        #expect(CivilTime(year: 2026, month: 3, day: 29).weekday == 0)
        #expect(CivilTime(localSeconds: utc(2024, 2, 29, 13, 5, 9)).description == "2024-02-29 13:05:09")
    }
}
