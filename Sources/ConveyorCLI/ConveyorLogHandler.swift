#if canImport(Glibc)
import Glibc
#endif
import ConveyorPlatform
import Logging
import Synchronization

/// Log lines in Sidekiq's shape, one write per line, safe from many threads:
/// `2026-11-25T13:19:15.826Z pid=3665 INFO: done jid=… class=NoopJob queue=default elapsed=0.000012`
public struct ConveyorLogHandler: MetadataStoringLogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let output: LogOutput

    public init(level: Logger.Level, output: LogOutput) {
        self.logLevel = level
        self.output = output
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
        if !metadata.isEmpty {
            for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where event.metadata?[key] == nil {
                Self.append(key, value, to: &line)
            }
        }
        if let extra = event.metadata {
            // Fixed order for the per-job fields, so lines line up; then the rest sorted.
            var fixed = 0
            for key in Self.jobKeys {
                if let value = extra[key] {
                    Self.append(key, value, to: &line)
                    fixed += 1
                }
            }
            if extra.count > fixed {
                for (key, value) in extra.sorted(by: { $0.key < $1.key }) where !Self.jobKeys.contains(key) {
                    Self.append(key, value, to: &line)
                }
            }
        }
        line.append(0x0A)
        output.write(line, urgent: event.level >= .warning)
    }

    static let jobKeys = ["jid", "class", "queue", "elapsed"]

    /// ` key=value`, quoting values with spaces (byte scans: no Foundation string search
    /// on the per-job path).
    static func append(_ key: String, _ value: Logger.Metadata.Value, to line: inout [UInt8]) {
        line.append(0x20)
        line.append(contentsOf: key.utf8)
        line.append(UInt8(ascii: "="))
        let text: String
        if case .string(let string) = value { text = string } else { text = value.description }
        let utf8 = text.utf8
        if utf8.isEmpty || utf8.contains(0x20) {
            line.append(UInt8(ascii: "\""))
            for byte in utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { line.append(UInt8(ascii: "\\")) }
                line.append(byte == 0x0A ? 0x20 : byte)
            }
            line.append(UInt8(ascii: "\""))
        } else {
            line.append(contentsOf: utf8)
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

/// Where log lines go. Each thread appends to a buffer of its own (no lock contention
/// between processor threads); a buffer is written out when it holds 16 KiB, when a line
/// is a warning or worse, and at least every 100 ms by a flusher thread. Lines from one
/// thread stay in order; lines from different threads interleave by up to 100 ms.
public final class LogOutput: Sendable {
    let descriptor: Int32
    let pidText = String(getpid())
    private let buffers = Mutex<[ThreadLogBuffer]>([])
    private let key: pthread_key_t

    public init(descriptor: Int32) {
        self.descriptor = descriptor
        LogOutput.flushAtExit
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        self.key = key
        // Without the flusher, lines below warning would wait for 16 KiB: fatal if it cannot start.
        try! DetachedThread.start(name: "log-flush", stackSize: 256 << 10) { [self] in
            while true {
                blockingSleep(seconds: 0.1)
                flush()
            }
        }
    }

    private static let flushAtExit: Void = {
        atexit {
            LogOutput.standardOutput.flush()
            LogOutput.standardError.flush()
        }
    }()

    public static let standardOutput = LogOutput(descriptor: 1)
    public static let standardError = LogOutput(descriptor: 2)

    private func buffer() -> ThreadLogBuffer {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadLogBuffer>.fromOpaque(raw).takeUnretainedValue()
        }
        let buffer = ThreadLogBuffer()
        // Retained by the list below for the life of the process.
        buffers.withLock { $0.append(buffer) }
        pthread_setspecific(key, Unmanaged.passUnretained(buffer).toOpaque())
        return buffer
    }

    /// The calling thread's id for log lines: its kernel thread id in base 36, as Sidekiq
    /// writes its `tid` (computed once per thread).
    var threadTag: String { buffer().threadTag }

    func write(_ bytes: [UInt8], urgent: Bool) {
        let buffer = buffer()
        let full = buffer.append(bytes)
        if full || urgent { buffer.drain(to: descriptor) }
    }

    /// Writes everything buffered (also called at exit by the CLI).
    public func flush() {
        for buffer in buffers.withLock({ $0 }) { buffer.drain(to: descriptor) }
    }
}

final class ThreadLogBuffer: Sendable {
    private let state = Mutex<[UInt8]>([])
    /// Made on the thread that owns the buffer.
    let threadTag = String(ProcessFacts.threadID, radix: 36)

    /// Appends a line; true when the buffer should be written now.
    func append(_ bytes: [UInt8]) -> Bool {
        state.withLock { buffer in
            if buffer.capacity == 0 { buffer.reserveCapacity(20_000) }
            buffer.append(contentsOf: bytes)
            return buffer.count >= 16_384
        }
    }

    func drain(to descriptor: Int32) {
        state.withLock { buffer in
            guard !buffer.isEmpty else { return }
            buffer.withUnsafeBytes { writeAll(descriptor, $0) }
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
