import ConveyorPostgres
import Foundation
import Testing

@Suite("timestamptz text")
struct PostgresTimestampTests {
    @Test("ISO text with offset, fraction and T separator parses")
    func parse() {
        #expect(PostgresTimestamp.parse("1970-01-01 00:00:01+00")?.timeIntervalSince1970 == 1)
        #expect(PostgresTimestamp.parse("1970-01-01T01:00:00.5+01")?.timeIntervalSince1970 == 0.5)
        #expect(PostgresTimestamp.parse("2026-11-25 13:13:21.25-05:30")?.timeIntervalSince1970 == 1_795_632_201.25)
        #expect(PostgresTimestamp.parse("garbage") == nil)
    }

    @Test("formatting keeps microseconds and round-trips")
    func format() {
        let date = Date(timeIntervalSince1970: 1_764_076_401.123456)
        let text = PostgresTimestamp.format(date)
        #expect(text == "2025-11-25T13:13:21.123456Z")
        #expect(abs(PostgresTimestamp.parse(text)!.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
    }
}
