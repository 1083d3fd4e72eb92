import Foundation
import Logging
import Synchronization

/// Log lines in Sidekiq's shape, one write per line, safe from many threads:
/// `2026-11-25T13:19:15.826Z pid=3665 INFO: done jid=… class=NoopJob queue=default elapsed=0.000012`
public struct ConveyorLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput

    public init(level: Logger.Level, output: LogOutput) {
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line: [UInt8] = []
        line.reserveCapacity(160)
        Self.appendTimestamp(to: &line)
        line.append(contentsOf: " pid=".utf8)
        line.append(contentsOf: output.pidText.utf8)
        line.append(0x20)
        line.append(contentsOf: Self.levelName(event.level).utf8)
        line.append(contentsOf: ": ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where event.metadata?[key] == nil {
            Self.append(key, value, to: &line)
        }
        if let extra = event.metadata {
            // Fixed order for the per-job fields, so lines line up; then the rest sorted.
            for key in ["jid", "class", "queue", "elapsed"] { if let value = extra[key] { Self.append(key, value, to: &line) } }
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) where !["jid", "class", "queue", "elapsed"].contains(key) {
                Self.append(key, value, to: &line)
            }
        }
        line.append(0x0A)
        output.write(line)
    }

    static func append(_ key: String, _ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        line.append(0x20)
        line.append(contentsOf: key.utf8)
        line.append(UInt8(ascii: "="))
        let text = value.description
        if text.contains(" ") || text.isEmpty {
            line.append(contentsOf: "\"\(text.replacingOccurrences(of: "\"", with: "\\\""))\"".utf8)
        } else {
            line.append(contentsOf: text.utf8)
        }
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "TRACE"
        case .debug: return "DEBUG"
        case .info: return "INFO"
        case .notice: return "NOTICE"
        case .warning: return "WARN"
        case .error: return "ERROR"
        case .critical: return "FATAL"
        }
    }

    static func appendTimestamp(to line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) {
            line.append(UInt8(48 + n / 10))
            line.append(UInt8(48 + n % 10))
        }
        let year = parts.tm_year + 1900
        two(year / 100); two(year % 100)
        line.append(UInt8(ascii: "-")); two(parts.tm_mon + 1)
        line.append(UInt8(ascii: "-")); two(parts.tm_mday)
        line.append(UInt8(ascii: "T")); two(parts.tm_hour)
        line.append(UInt8(ascii: ":")); two(parts.tm_min)
        line.append(UInt8(ascii: ":")); two(parts.tm_sec)
        line.append(UInt8(ascii: "."))
        let millis = Int32(now.tv_nsec / 1_000_000)
        line.append(UInt8(48 + millis / 100))
        two(millis % 100)
        line.append(UInt8(ascii: "Z"))
    }
}

/// Where log lines go: a file descriptor, written under a lock so lines never interleave.
public final class LogOutput: Sendable {
    let descriptor: Int32
    let pidText = String(getpid())
    private let lock = Mutex(())

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public static let standardOutput = LogOutput(descriptor: 1)
    public static let standardError = LogOutput(descriptor: 2)

    func write(_ bytes: [UInt8]) {
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 {
                        if written < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }
}
