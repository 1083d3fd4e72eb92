import Logging

/// Log lines as one JSON object each, in the shape of Sidekiq's JSON formatter, so a log
/// pipeline set up for Sidekiq reads Conveyor's too:
///
///     {"ts":"2026-11-25T13:19:15.826Z","pid":3665,"tid":"2bx","lvl":"INFO","msg":"done",
///      "ctx":{"jid":"…","class":"NoopJob","queue":"default","elapsed":0.000012}}
///
/// The context (jid, class, queue, elapsed, error_class, error, migration and batch ids…)
/// sits under `ctx` as Sidekiq puts it, the per-job fields first; `elapsed` and counts are
/// numbers. Lines are built byte by byte and written through the same per-thread buffers as
/// the text format, so switching costs no speed.
public struct JSONLogHandler: MetadataStoringLogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput

    public init(level: Logger.Level, output: LogOutput) {
        self.logLevel = level
        self.output = output
    }

    /// Context fields written as JSON numbers when their text is one.
    static let numericKeys: Set<String> = [
        "elapsed", "count", "processed", "failed", "concurrency", "processor", "pid", "timeout",
        "migration", "migration_id", "job", "new_job", "failed_jobs", "attempts", "sub_batch_size",
        "batch_size", "from", "to", "efficiency", "performed", "status",
    ]

    public func log(event: LogEvent) {
        var line: [UInt8] = []
        line.reserveCapacity(224)
        line.append(contentsOf: #"{"ts":""#.utf8)
        ConveyorLogHandler.appendTimestamp(to: &line)
        line.append(contentsOf: #"","pid":"#.utf8)
        line.append(contentsOf: output.pidText.utf8)
        line.append(contentsOf: #","tid":""#.utf8)
        line.append(contentsOf: output.threadTag.utf8)
        line.append(contentsOf: #"","lvl":""#.utf8)
        line.append(contentsOf: ConveyorLogHandler.levelName(event.level).utf8)
        line.append(contentsOf: #"","msg":"#.utf8)
        Self.appendString(event.message.description, to: &line)
        let extra = event.metadata ?? [:]
        if !metadata.isEmpty || !extra.isEmpty {
            line.append(contentsOf: #","ctx":{"#.utf8)
            var first = true
            func field(_ key: String, _ value: Logger.Metadata.Value, numeric: Bool) {
                if !first { line.append(UInt8(ascii: ",")) }
                first = false
                Self.appendString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                Self.appendValue(value, numeric: numeric, to: &line)
            }
            // The per-job fields first, in a fixed order (of them only `elapsed` is a
            // number: no set lookup on the per-job path); then the rest sorted.
            var fixed = 0
            for key in ConveyorLogHandler.jobKeys {
                if let value = extra[key] ?? metadata[key] {
                    field(key, value, numeric: key == "elapsed")
                    fixed += 1
                }
            }
            if extra.count + metadata.count > fixed {
                var rest = metadata.filter { extra[$0.key] == nil }
                rest.merge(extra) { $1 }
                for (key, value) in rest.sorted(by: { $0.key < $1.key }) where !ConveyorLogHandler.jobKeys.contains(key) {
                    field(key, value, numeric: Self.numericKeys.contains(key))
                }
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(contentsOf: "}\n".utf8)
        output.write(line, urgent: event.level >= .warning)
    }

    static func appendValue(_ value: Logger.Metadata.Value, numeric: Bool, to line: inout [UInt8]) {
        switch value {
        case .string(let text):
            if numeric, isJSONNumber(text) { line.append(contentsOf: text.utf8) } else { appendString(text, to: &line) }
        case .stringConvertible(let convertible):
            let text = convertible.description
            if numeric, isJSONNumber(text) { line.append(contentsOf: text.utf8) } else { appendString(text, to: &line) }
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendValue(element, numeric: numeric, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let fields):
            line.append(UInt8(ascii: "{"))
            for (index, (key, element)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendString(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendValue(element, numeric: numericKeys.contains(key), to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest
    /// of the UTF-8 passed through.
    static func appendString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): line.append(contentsOf: #"\\"#.utf8)
            case 0x0A: line.append(contentsOf: #"\n"#.utf8)
            case 0x0D: line.append(contentsOf: #"\r"#.utf8)
            case 0x09: line.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                line.append(contentsOf: #"\u00"#.utf8)
                line.append(hex[Int(byte >> 4)])
                line.append(hex[Int(byte & 0x0F)])
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }

    /// Whether `text` is a JSON number literal (`-0.5`, `12`, `1e3`; not `012`, `.5`, `1.`).
    static func isJSONNumber(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let leading = bytes.first
        let integer = digits()
        guard integer > 0, !(integer > 1 && leading == UInt8(ascii: "0")) else { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }
}
