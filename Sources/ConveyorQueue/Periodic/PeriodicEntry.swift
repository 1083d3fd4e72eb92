import ConveyorJSON

/// One periodic job: an entry of a schedule file in sidekiq-cron's format, validated.
/// The same fields, normalised, are its definition in Redis (what `conveyor cron list`,
/// `cron enqueue` and the web read).
public struct PeriodicEntry: Sendable, Equatable {
    public let name: String
    public let cron: CronExpression
    public let className: String
    public let queue: String
    public let args: [JSONValue]
    public let description: String?
    /// `active: false` (or sidekiq-cron's `status: disabled`): listed, never ticked.
    public let active: Bool
    public let retry: RetrySetting
    public let unique: UniqueOptions?
    /// sidekiq-cron's `date_as_argument`: the tick's time (epoch seconds) appended to args.
    public let dateAsArgument: Bool

    /// The keys an entry may have. `klass` is sidekiq-cron's other spelling of `class`.
    public static let keys: Set<String> = [
        "cron", "class", "klass", "queue", "args", "description", "active", "status", "retry",
        "unique_for", "unique_until", "date_as_argument",
    ]
    /// sidekiq-cron options Conveyor refuses by name rather than ignore.
    static let unsupported: Set<String> = [
        "active_job", "queue_name_prefix", "queue_name_delimiter", "symbolize_args", "namespace", "source", "message",
    ]

    /// Validates an entry's fields (key, value) in file order. `knownClasses` nil skips
    /// the class check (readers of Redis definitions).
    public init(name: String, fields: [(key: String, value: JSONValue)], knownClasses: Set<String>?, zoneDirectory: String = "/usr/share/zoneinfo") throws(PeriodicEntry.Invalid) {
        guard !name.isEmpty else { throw Invalid(key: nil, "an entry needs a name") }
        var values: [String: JSONValue] = [:]
        for (key, value) in fields {
            if Self.unsupported.contains(key) { throw Invalid(key: key, "'\(key)' is a sidekiq-cron option Conveyor does not support") }
            guard Self.keys.contains(key) else {
                throw Invalid(key: key, "unknown key '\(key)' (known: \(Self.keys.filter { $0 != "klass" }.sorted().joined(separator: ", ")))")
            }
            values[key] = value
        }
        self.name = name
        guard let cronText = values["cron"]?.stringValue else { throw Invalid(key: "cron", "'cron' is missing (e.g. cron: \"*/5 * * * *\")") }
        do {
            cron = try CronExpression(parsing: cronText, zoneDirectory: zoneDirectory)
        } catch {
            throw Invalid(key: "cron", "cron \"\(cronText)\": \(error.message)")
        }
        guard let className = (values["class"] ?? values["klass"])?.stringValue, !className.isEmpty else {
            throw Invalid(key: "class", "'class' is missing or not a string")
        }
        if let knownClasses, !knownClasses.contains(className) {
            throw Invalid(key: "class", "class '\(className)' is not registered in this worker")
        }
        self.className = className
        switch values["queue"] {
        case nil, .null?: queue = "default"
        case .string(let text)? where !text.isEmpty && !text.contains(where: { $0 == " " || $0 == "," }): queue = text
        default: throw Invalid(key: "queue", "'queue' must be a queue name")
        }
        args = try Self.arguments(values["args"])
        switch values["description"] {
        case nil, .null?: description = nil
        case .string(let text)?: description = text
        default: throw Invalid(key: "description", "'description' must be a string")
        }
        var active = true
        switch values["active"] {
        case nil, .null?: break
        case .bool(let flag)?: active = flag
        default: throw Invalid(key: "active", "'active' must be true or false")
        }
        switch values["status"] {
        case nil, .null?: break
        case .string("enabled")?: break
        case .string("disabled")?: active = false
        default: throw Invalid(key: "status", "'status' must be enabled or disabled")
        }
        self.active = active
        switch values["retry"] {
        case nil, .null?: retry = .enabled
        case .bool(let flag)?: retry = flag ? .enabled : .disabled
        case .number(let n)? where (n.intValue ?? -1) >= 0: retry = .limit(n.intValue!)
        case .string(let text)? where RetrySetting(argument: text) != nil: retry = RetrySetting(argument: text)!
        default: throw Invalid(key: "retry", "'retry' must be true, false or a number ≥ 0")
        }
        if let uniqueFor = values["unique_for"], uniqueFor != .null {
            do {
                unique = try UniqueOptions(unique: uniqueFor, until: values["unique_until"])
            } catch {
                throw Invalid(key: "unique_for", error.message)
            }
        } else if values["unique_until"] != nil {
            throw Invalid(key: "unique_until", "'unique_until' needs 'unique_for'")
        } else {
            unique = nil
        }
        switch values["date_as_argument"] {
        case nil, .null?, .bool(false)?: dateAsArgument = false
        case .bool(true)?: dateAsArgument = true
        default: throw Invalid(key: "date_as_argument", "'date_as_argument' must be true or false")
        }
    }

    /// sidekiq-cron's `args`: an array as is, a hash as the one argument, a JSON string
    /// parsed (other strings as the one argument), any other value as the one argument.
    static func arguments(_ value: JSONValue?) throws(Invalid) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        case .string(let text)?:
            if case .array(let items)? = try? JSONValue.parse(text) { return items }
            if case .object? = try? JSONValue.parse(text) { return [try! JSONValue.parse(text)] }
            return [.string(text)]
        case let other?: return [other]
        }
    }

    /// The job a tick enqueues.
    public func payload(tick: Int64, now: Double) -> JobPayload {
        var args = self.args
        if dateAsArgument { args.append(JSONValue(Double(tick))) }
        var payload = JobPayload(className: className, args: args, queue: queue, retry: retry, createdAt: now)
        unique?.apply(to: &payload)
        if unique != nil {
            payload.object["unique_digest"] = .string(UniqueLock.digest(className: className, queue: queue, args: args))
        }
        payload.object["enqueued_at"] = Timestamp.json(now)
        return payload
    }

    /// The definition stored in Redis: the entry's fields, normalised.
    public var definition: JSONValue {
        var object = JSONObject()
        object["cron"] = .string(cron.source)
        object["class"] = .string(className)
        object["queue"] = .string(queue)
        object["args"] = .array(args)
        if let description { object["description"] = .string(description) }
        object["active"] = .bool(active)
        object["retry"] = retry.json
        if let unique {
            var payload = JobPayload(className: "", args: [])
            unique.apply(to: &payload)
            object["unique_for"] = payload.object["unique_for"]
            object["unique_until"] = payload.object["unique_until"]
        }
        if dateAsArgument { object["date_as_argument"] = .bool(true) }
        return .object(object)
    }

    /// Reads a definition back (from Redis).
    public init(name: String, definition: JSONValue, zoneDirectory: String = "/usr/share/zoneinfo") throws(PeriodicEntry.Invalid) {
        guard case .object(let object) = definition else { throw Invalid(key: nil, "the stored definition is not a JSON object") }
        try self.init(name: name, fields: object.map { (key: $0.key, value: $0.value) }, knownClasses: nil, zoneDirectory: zoneDirectory)
    }

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        /// The field at fault, if one is.
        public let key: String?
        public let message: String
        public init(key: String?, _ message: String) {
            self.key = key
            self.message = message
        }
        public var description: String { message }
    }
}
