import ConveyorJSON

/// A Sidekiq job payload: the JSON object with typed views of the fields Conveyor uses.
/// Every other field is kept as it came, in its place, through retries and moves.
public struct JobPayload: Sendable, Hashable {
    public var object: JSONObject

    public init(object: JSONObject) { self.object = object }

    /// A new payload in the shape Sidekiq's client writes: `class`, `args`, `queue`,
    /// `retry`, `jid`, `created_at`.
    public init(className: String, args: [JSONValue], queue: String = "default", retry: RetrySetting = .enabled, jid: String = JobID.make(), createdAt: Double = Timestamp.now()) {
        var object = JSONObject()
        object["retry"] = retry.json
        object["queue"] = .string(queue)
        object["class"] = .string(className)
        object["args"] = .array(args)
        object["jid"] = .string(jid)
        object["created_at"] = Timestamp.json(createdAt)
        self.object = object
    }

    /// Why raw bytes are not a runnable job.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let errorClass: String
        public let reason: String
        public var description: String { reason }
    }

    /// Parses raw bytes from a queue; a payload must be a JSON object with a string
    /// `class` and an array `args`.
    public static func decode(_ bytes: [UInt8]) -> Result<JobPayload, Invalid> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            return .failure(Invalid(errorClass: "JSON::ParserError", reason: "payload is not valid JSON: \(error)"))
        }
        guard case .object(let object) = value else {
            return .failure(Invalid(errorClass: "Conveyor::InvalidPayload", reason: "payload is a JSON \(value.typeName), not an object"))
        }
        guard case .string(let className)? = object["class"], !className.isEmpty else {
            return .failure(Invalid(errorClass: "Conveyor::InvalidPayload", reason: "payload has no 'class' string"))
        }
        guard case .array? = object["args"] else {
            return .failure(Invalid(errorClass: "Conveyor::InvalidPayload", reason: "payload of \(className) has no 'args' array"))
        }
        return .success(JobPayload(object: object))
    }

    public func serialized() -> [UInt8] { object.serializedBytes() }
    public var json: String { object.serialized() }

    // MARK: - Fields

    public var className: String { object["class"]?.stringValue ?? "" }
    public var args: [JSONValue] {
        get { object["args"]?.arrayValue ?? [] }
        set { object["args"] = .array(newValue) }
    }
    public var queue: String {
        get { object["queue"]?.stringValue ?? "default" }
        set { object["queue"] = .string(newValue) }
    }
    public var jid: String {
        get { object["jid"]?.stringValue ?? "" }
        set { object["jid"] = .string(newValue) }
    }
    public var retry: RetrySetting { RetrySetting(json: object["retry"]) }
    public var retryCount: Int? { object["retry_count"]?.intValue }
    public var createdAt: Double? { Timestamp.seconds(from: object["created_at"]) }
    public var enqueuedAt: Double? { Timestamp.seconds(from: object["enqueued_at"]) }
    public var failedAt: Double? { Timestamp.seconds(from: object["failed_at"]) }
    public var retriedAt: Double? { Timestamp.seconds(from: object["retried_at"]) }
    public var errorMessage: String? { object["error_message"]?.stringValue }
    public var errorClass: String? { object["error_class"]?.stringValue }
    /// Sidekiq's `dead: false` keeps an exhausted job out of the dead set.
    public var keepsDead: Bool { object["dead"]?.boolValue != false }
    /// Sidekiq's `retry_queue`: where retries go instead of the original queue.
    public var retryQueue: String? { object["retry_queue"]?.stringValue }

    public mutating func setTimestamp(_ key: String, _ seconds: Double) {
        object[key] = Timestamp.json(seconds)
    }

    /// The class to show: ActiveJob wrappers show the wrapped class.
    public var displayClass: String { object["wrapped"]?.stringValue ?? className }
}

/// Sidekiq's `retry` option: `true` (default 25 retries), `false` (no retry, no dead
/// set) or a number of retries (0 goes straight to the dead set).
public enum RetrySetting: Sendable, Hashable, CustomStringConvertible {
    case enabled
    case disabled
    case limit(Int)

    init(json: JSONValue?) {
        switch json {
        case .bool(false)?: self = .disabled
        case .number(let n)?: self = n.intValue.map { .limit(max(0, $0)) } ?? .enabled
        default: self = .enabled  // true, missing, or anything else Ruby treats as truthy
        }
    }

    public var json: JSONValue {
        switch self {
        case .enabled: return .bool(true)
        case .disabled: return .bool(false)
        case .limit(let n): return JSONValue(n)
        }
    }

    /// Parses the CLI's `--retry N|true|false`.
    public init?(argument: String) {
        switch argument.lowercased() {
        case "true", "yes": self = .enabled
        case "false", "no": self = .disabled
        default:
            guard let n = Int(argument), n >= 0 else { return nil }
            self = .limit(n)
        }
    }

    public var description: String {
        switch self {
        case .enabled: return "true"
        case .disabled: return "false"
        case .limit(let n): return String(n)
        }
    }
}
