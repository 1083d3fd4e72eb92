/// The POSIX TZ rule at the end of a TZif file (`CET-1CEST,M3.5.0,M10.5.0/3`), which
/// gives the offsets after the file's last explicit transition.
struct PosixTimeZoneRule: Sendable, Equatable {
    /// Seconds east of UTC (POSIX writes them west-positive; stored east-positive).
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        let offset: Int
        let start: Moment
        let end: Moment
    }

    /// A day of the year and a time of day (local time then in effect).
    struct Moment: Sendable, Equatable {
        enum Day: Sendable, Equatable {
            /// `Jn`: day 1...365, February 29 never counted.
            case julianNoLeap(Int)
            /// `n`: day 0...365, February 29 counted.
            case zeroBased(Int)
            /// `Mm.w.d`: weekday d (0 Sunday) of week w (5 = last) of month m.
            case monthWeekDay(month: Int, week: Int, weekday: Int)
        }
        let day: Day
        let seconds: Int

        func localSeconds(year: Int) -> Int64 {
            let jan1 = CivilTime.days(year: year, month: 1, day: 1)
            var days: Int
            switch day {
            case .julianNoLeap(let n):
                days = jan1 + n - 1 + (CivilTime.isLeapYear(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                days = jan1 + n
            case .monthWeekDay(let month, let week, let weekday):
                let first = CivilTime.days(year: year, month: month, day: 1)
                let firstWeekday = CivilTime.weekday(year: year, month: month, day: 1)
                var day = 1 + (weekday - firstWeekday + 7) % 7 + (week - 1) * 7
                while day > CivilTime.daysInMonth(year: year, month: month) { day -= 7 }
                days = first + day - 1
            }
            return Int64(days) * 86400 + Int64(seconds)
        }
    }

    /// Nil when the text is not a rule this reader understands (the zone then keeps its
    /// last explicit offset).
    init?(parsing text: String) {
        var scanner = Scanner(Array(text.utf8))
        guard scanner.name(), let standard = scanner.offset() else { return nil }
        standardOffset = -standard
        if scanner.atEnd {
            daylight = nil
            return
        }
        guard scanner.name() else { return nil }
        var daylightOffset = standardOffset + 3600
        if let explicit = scanner.offset() { daylightOffset = -explicit }
        guard scanner.consume(","), let start = scanner.moment(), scanner.consume(","), let end = scanner.moment(), scanner.atEnd else { return nil }
        daylight = Daylight(offset: daylightOffset, start: start, end: end)
    }

    /// The transitions (instant, offset from then on) of the years around `instant`, in order.
    func transitions(around instant: Int64) -> [(at: Int64, offset: Int)] {
        guard let daylight else { return [] }
        let year = CivilTime(localSeconds: instant).year
        var points: [(at: Int64, offset: Int)] = []
        for y in (year - 1)...(year + 1) {
            // The start happens in standard time, the end in daylight time.
            points.append((daylight.start.localSeconds(year: y) - Int64(standardOffset), daylight.offset))
            points.append((daylight.end.localSeconds(year: y) - Int64(daylight.offset), standardOffset))
        }
        return points.sorted { $0.at < $1.at }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position >= bytes.count }
        var current: UInt8? { atEnd ? nil : bytes[position] }

        mutating func consume(_ character: Character) -> Bool {
            guard current == character.asciiValue else { return false }
            position += 1
            return true
        }

        /// `CET` or `<+0330>`.
        mutating func name() -> Bool {
            if consume("<") {
                while let c = current, c != UInt8(ascii: ">") { position += 1 }
                return consume(">")
            }
            let start = position
            while let c = current, (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { position += 1 }
            return position - start >= 3
        }

        mutating func number() -> Int? {
            var value: Int?
            while let c = current, c >= 48 && c <= 57 {
                value = (value ?? 0) * 10 + Int(c - 48)
                position += 1
            }
            return value
        }

        /// `[+-]hh[:mm[:ss]]` in seconds.
        mutating func offset() -> Int? {
            var sign = 1
            if consume("-") { sign = -1 } else { _ = consume("+") }
            guard let hours = number() else { return nil }
            var seconds = hours * 3600
            if consume(":") {
                guard let minutes = number() else { return nil }
                seconds += minutes * 60
                if consume(":") {
                    guard let s = number() else { return nil }
                    seconds += s
                }
            }
            return sign * seconds
        }

        mutating func moment() -> Moment? {
            let day: Moment.Day
            if consume("J") {
                guard let n = number(), (1...365).contains(n) else { return nil }
                day = .julianNoLeap(n)
            } else if consume("M") {
                guard let m = number(), consume("."), let w = number(), consume("."), let d = number(),
                    (1...12).contains(m), (1...5).contains(w), (0...6).contains(d)
                else { return nil }
                day = .monthWeekDay(month: m, week: w, weekday: d)
            } else {
                guard let n = number(), (0...365).contains(n) else { return nil }
                day = .zeroBased(n)
            }
            var seconds = 7200
            if consume("/") {
                guard let time = offset() else { return nil }
                seconds = time
            }
            return Moment(day: day, seconds: seconds)
        }
    }
}
