import ConveyorJSON

/// Sidekiq Enterprise's unique jobs options, as payload fields: `unique_for` (seconds the
/// lock lasts at most) and `unique_until` (`success`, the default: released when the job
/// succeeds or dies; `start`: released when it starts running).
public struct UniqueOptions: Sendable, Hashable, CustomStringConvertible {
    public enum Until: String, Sendable, Hashable {
        case success, start
    }

    public let seconds: Double
    public let until: Until

    public init(seconds: Double, until: Until = .success) throws(UniqueOptions.Invalid) {
        guard seconds.isFinite, seconds > 0 else { throw Invalid("unique_for must be a positive number of seconds, not \(seconds)") }
        self.seconds = seconds
        self.until = until
    }

    /// Reads `unique_for`/`unique_until` as they come from JSON (a payload or a schedule file).
    public init(unique: JSONValue, until: JSONValue?) throws(UniqueOptions.Invalid) {
        guard case .number(let number) = unique, let seconds = Double(number.text) else {
            throw Invalid("unique_for must be a positive number of seconds, not \(unique.serialized())")
        }
        var mode = Until.success
        if let until, until != .null {
            guard let text = until.stringValue, let parsed = Until(rawValue: text) else {
                throw Invalid("unique_until must be 'success' or 'start', not \(until.serialized())")
            }
            mode = parsed
        }
        try self.init(seconds: seconds, until: mode)
    }

    /// The options a payload carries, if any (nil also for malformed ones: the worker then
    /// leaves the lock to its TTL).
    public init?(payload: JobPayload) {
        guard let unique = payload.object["unique_for"], let options = try? UniqueOptions(unique: unique, until: payload.object["unique_until"]) else { return nil }
        self = options
    }

    /// Writes the fields into `payload`.
    public func apply(to payload: inout JobPayload) {
        payload.object["unique_for"] = seconds == seconds.rounded() && seconds < 1e15 ? JSONValue(Int(seconds)) : JSONValue(seconds)
        payload.object["unique_until"] = .string(until.rawValue)
    }

    /// The lock's time to live for a job that runs at `at` (epoch seconds), pushed `now`:
    /// as in Sidekiq Enterprise, a scheduled job's lock also covers its delay.
    public func lockMilliseconds(at: Double?, now: Double) -> Int {
        let delay = max(0, (at ?? now) - now)
        return max(1, Int(((delay + seconds) * 1000).rounded(.up)))
    }

    public var description: String { "unique for \(seconds) s until \(until.rawValue)" }

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}
