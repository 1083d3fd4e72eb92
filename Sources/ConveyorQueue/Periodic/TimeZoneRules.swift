#if canImport(Glibc)
import Glibc
#endif

/// A time zone's UTC offsets over time, read from the system's tzdata (TZif files under
/// /usr/share/zoneinfo, RFC 8536) without Foundation or ICU: the explicit transitions,
/// then the file's POSIX TZ rule for the years after them.
public struct TimeZoneRules: Sendable, Equatable {
    public let name: String
    let transitions: [Int64]
    /// The offset (seconds east of UTC) in effect from `transitions[i]`.
    let offsets: [Int]
    /// The offset before the first transition.
    let initialOffset: Int
    let rule: PosixTimeZoneRule?

    public static let utc = TimeZoneRules(name: "UTC", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    init(name: String, transitions: [Int64], offsets: [Int], initialOffset: Int, rule: PosixTimeZoneRule?) {
        self.name = name
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// A fixed offset (tests, and zones without transitions).
    public static func fixed(_ name: String, offset: Int) -> TimeZoneRules {
        TimeZoneRules(name: name, transitions: [], offsets: [], initialOffset: offset, rule: nil)
    }

    /// The zone called `name` (`Europe/Berlin`, `UTC`), from `directory`.
    public static func named(_ name: String, directory: String = "/usr/share/zoneinfo") throws(CronError) -> TimeZoneRules {
        if name == "UTC" || name == "Etc/UTC" || name == "Z" { return .utc }
        let valid = !name.isEmpty && !name.hasPrefix("/") && !name.split(separator: "/").contains("..")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_+-/".unicodeScalars.contains($0) }
        guard valid, let bytes = readFile(directory + "/" + name) else {
            throw CronError("unknown time zone '\(name)' (expected a tzdata name such as Europe/Berlin, found under \(directory))")
        }
        return try TimeZoneRules(tzif: bytes, name: name)
    }

    /// Parses a TZif file (versions 1 to 4).
    public init(tzif bytes: [UInt8], name: String) throws(CronError) {
        var reader = ByteReader(bytes: bytes)
        let bad = CronError("'\(name)' is not a TZif time zone file")
        guard reader.take(4) == Array("TZif".utf8), let version = reader.take(1)?.first else { throw bad }
        guard var header = reader.header() else { throw bad }
        var timeSize = 4
        if version >= UInt8(ascii: "2") {
            guard reader.skip(header.v1DataLength), let second = reader.header() else { throw bad }  // skip the v1 block
            header = second
            timeSize = 8
        }
        var times: [Int64] = []
        for _ in 0..<header.timeCount {
            guard let t = timeSize == 8 ? reader.int64() : reader.int32().map(Int64.init) else { throw bad }
            times.append(t)
        }
        guard let indices = reader.take(header.timeCount) else { throw bad }
        var typeOffsets: [Int] = []
        for _ in 0..<header.typeCount {
            guard let offset = reader.int32(), reader.skip(2) else { throw bad }
            typeOffsets.append(Int(offset))
        }
        guard !typeOffsets.isEmpty, indices.allSatisfy({ Int($0) < typeOffsets.count }) else { throw bad }
        guard reader.skip(header.charCount + header.leapCount * (timeSize + 4) + header.isStdCount + header.isUTCCount) else { throw bad }
        var rule: PosixTimeZoneRule?
        if timeSize == 8, let footer = reader.footer(), !footer.isEmpty {
            rule = PosixTimeZoneRule(parsing: footer)
        }
        self.init(name: name, transitions: times, offsets: indices.map { typeOffsets[Int($0)] }, initialOffset: typeOffsets[0], rule: rule)
    }

    // MARK: - Offsets

    /// A stretch of time with one offset: `[start, end)`, and the offset before it.
    public struct Segment: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
        public var offset: Int
        public var previousOffset: Int?
    }

    public func offset(at instant: Int64) -> Int { segment(containing: instant).offset }

    /// Local seconds (wall clock as if UTC) of an instant.
    public func localSeconds(at instant: Int64) -> Int64 { instant + Int64(offset(at: instant)) }

    public func segment(containing instant: Int64) -> Segment {
        let lastExplicit = transitions.last ?? Int64.min
        if instant < lastExplicit || rule == nil {
            // The last transition at or before `instant`, by binary search.
            var low = 0, high = transitions.count
            while low < high {
                let mid = (low + high) / 2
                if transitions[mid] <= instant { low = mid + 1 } else { high = mid }
            }
            let k = low - 1
            let offset = k >= 0 ? offsets[k] : initialOffset
            let previous: Int? = k > 0 ? offsets[k - 1] : (k == 0 ? initialOffset : nil)
            var end = k + 1 < transitions.count ? transitions[k + 1] : Int64.max
            if end == Int64.max, let rule, let first = rule.transitions(around: transitions.last ?? instant).first(where: { $0.at > lastExplicit }) {
                end = first.at
            }
            return Segment(start: k >= 0 ? transitions[k] : Int64.min, end: end, offset: offset, previousOffset: previous)
        }
        let rule = rule!
        var points: [(at: Int64, offset: Int)] = [(lastExplicit, offsets.last ?? initialOffset)]
        points += rule.transitions(around: instant).filter { $0.at > lastExplicit }
        guard points.count > 1 else {
            return Segment(start: lastExplicit, end: .max, offset: rule.standardOffset, previousOffset: offsetBeforeLastTransition)
        }
        let k = points.lastIndex { $0.at <= instant } ?? 0
        return Segment(
            start: points[k].at, end: k + 1 < points.count ? points[k + 1].at : .max, offset: points[k].offset,
            previousOffset: k > 0 ? points[k - 1].offset : offsetBeforeLastTransition)
    }

    private var offsetBeforeLastTransition: Int? {
        offsets.isEmpty ? nil : offsets.count > 1 ? offsets[offsets.count - 2] : initialOffset
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { return nil }
        }
        return bytes
    }
}

/// Big-endian reading of a TZif file.
private struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    struct Header {
        var isUTCCount = 0, isStdCount = 0, leapCount = 0, timeCount = 0, typeCount = 0, charCount = 0
        var v1DataLength: Int { timeCount * 5 + typeCount * 6 + charCount + leapCount * 8 + isStdCount + isUTCCount }
    }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, position + count <= bytes.count else { return nil }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func skip(_ count: Int) -> Bool { take(count) != nil }

    mutating func int32() -> Int32? {
        guard let b = take(4) else { return nil }
        return Int32(bitPattern: UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]))
    }

    mutating func int64() -> Int64? {
        guard let high = int32(), let low = int32() else { return nil }
        return Int64(high) << 32 | Int64(UInt32(bitPattern: low))
    }

    /// After the magic and version: 15 unused bytes and six counts.
    mutating func header() -> Header? {
        if position == 5 { guard skip(15) else { return nil } } else { guard take(4) == Array("TZif".utf8), skip(16) else { return nil } }
        var counts: [Int] = []
        for _ in 0..<6 {
            guard let n = int32(), n >= 0 else { return nil }
            counts.append(Int(n))
        }
        return Header(isUTCCount: counts[0], isStdCount: counts[1], leapCount: counts[2], timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
    }

    /// The v2+ footer: `\n<POSIX TZ string>\n`.
    mutating func footer() -> String? {
        guard position < bytes.count, bytes[position] == 0x0A else { return nil }
        let rest = bytes[(position + 1)...]
        guard let end = rest.firstIndex(of: 0x0A) else { return nil }
        return String(decoding: rest[..<end], as: UTF8.self)
    }
}
