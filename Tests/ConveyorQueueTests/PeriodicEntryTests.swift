import ConveyorJSON
import Testing

@testable import ConveyorQueue

@Suite("Schedule entries (validation)")
struct PeriodicEntryTests {
    /// A document as the YAML reader makes it: one field per line from line `line + 1`.
    func document(_ entries: [(String, [(String, JSONValue)])], line: Int = 1) -> JSONValue {
        var next = line
        return ["entries": .array(entries.map { name, fields in
            let entryLine = next
            next += 1
            let items: [JSONValue] = fields.map { key, value in
                defer { next += 1 }
                return ["key": .string(key), "line": JSONValue(next), "value": value]
            }
            return ["name": .string(name), "line": JSONValue(entryLine), "fields": .array(items)]
        })]
    }

    func parse(_ entries: [(String, [(String, JSONValue)])]) -> PeriodicSchedule {
        PeriodicSchedule.parse(document: document(entries), file: "schedule.yml", knownClasses: ["ReportJob", "NoopJob"])
    }

    @Test("a full entry keeps every field")
    func fullEntry() throws {
        let schedule = parse([("report", [
            ("cron", "0 3 * * * Europe/Berlin"), ("class", "ReportJob"), ("queue", "reports"), ("args", [42, "full"]),
            ("description", "The nightly report"), ("active", true), ("retry", 3), ("unique_for", 600), ("unique_until", "start"),
            ("date_as_argument", true),
        ])])
        #expect(schedule.errors.isEmpty)
        let entry = try #require(schedule.entries.first)
        #expect(entry.name == "report" && entry.className == "ReportJob" && entry.queue == "reports" && entry.args == [42, "full"])
        #expect(entry.description == "The nightly report" && entry.active && entry.retry == .limit(3) && entry.dateAsArgument)
        #expect(entry.unique == (try UniqueOptions(seconds: 600, until: .start)))
        #expect(entry.cron.zone.name == "Europe/Berlin")
        // The definition reads back to the same entry.
        #expect(try PeriodicEntry(name: "report", definition: entry.definition) == entry)
    }

    @Test("defaults: queue default, no args, active, retry true; sidekiq-cron's klass and status work")
    func defaults() throws {
        let schedule = parse([("a", [("cron", "@hourly"), ("klass", "NoopJob"), ("status", "disabled")])])
        let entry = try #require(schedule.entries.first)
        #expect(entry.queue == "default" && entry.args.isEmpty && !entry.active && entry.retry == .enabled && entry.unique == nil)
    }

    static let argumentForms: [(JSONValue, [JSONValue])] = [
        (JSONValue.array([1, 2]), [JSONValue(1), JSONValue(2)]),
        (["hard": "stuff"], [["hard": "stuff"]]),
        ("[1, \"x\"]", [1, "x"]),
        ("plain", ["plain"]),
        (7, [7]),
        (JSONValue.null, []),
    ]

    @Test("args as sidekiq-cron reads them: array, hash (one argument), JSON string, other scalar", arguments: argumentForms)
    func arguments(value: JSONValue, expected: [JSONValue]) throws {
        let entry = try #require(parse([("a", [("cron", "* * * * *"), ("class", "NoopJob"), ("args", value)])]).entries.first)
        #expect(entry.args == expected)
    }

    @Test("each bad entry is refused in one line naming the file, the line and the entry; good ones are kept", arguments: [
        ("cron", JSONValue("0 25 * * *"), "schedule.yml:5: entry 'bad': cron \"0 25 * * *\": hour 25 is out of range (0-23)"),
        ("colour", "blue", "schedule.yml:5: entry 'bad': unknown key 'colour'"),
        ("class", "Unregistered", "schedule.yml:5: entry 'bad': class 'Unregistered' is not registered in this worker"),
        ("unique_for", 0, "schedule.yml:5: entry 'bad': unique_for must be a positive number of seconds"),
        ("unique_for", "soon", "schedule.yml:5: entry 'bad': unique_for must be a positive number of seconds"),
        ("unique_for", -5, "schedule.yml:5: entry 'bad': unique_for must be a positive number"),
        ("unique_until", "finish", "schedule.yml:5: entry 'bad': 'unique_until' needs 'unique_for'"),
        ("active_job", true, "schedule.yml:5: entry 'bad': 'active_job' is a sidekiq-cron option Conveyor does not support"),
        ("active", "maybe", "schedule.yml:5: entry 'bad': 'active' must be true or false"),
        ("retry", -1, "schedule.yml:5: entry 'bad': 'retry' must be true, false or a number"),
        ("queue", "a b", "schedule.yml:5: entry 'bad': 'queue' must be a queue name"),
    ])
    func refused(key: String, value: JSONValue, line: String) throws {
        var fields: [(String, JSONValue)] = [("cron", "* * * * *"), ("class", "NoopJob")]
        if let index = fields.firstIndex(where: { $0.0 == key }) { fields.remove(at: index) }
        fields.insert((key, value), at: 0)
        let schedule = parse([("good", [("cron", "@daily"), ("class", "NoopJob")]), ("bad", fields)])
        #expect(schedule.entries.map(\.name) == ["good"])
        #expect(schedule.refused == ["bad"])
        #expect(schedule.errors.count == 1)
        #expect(schedule.errors.first?.hasPrefix(line) == true, "\(schedule.errors)")
    }

    @Test("a missing cron or class, a name used twice and a reader error are refused")
    func structural() {
        #expect(parse([("x", [("class", "NoopJob")])]).errors.first?.contains("'cron' is missing") == true)
        #expect(parse([("x", [("cron", "@daily")])]).errors.first?.contains("'class' is missing") == true)
        let twice = parse([("x", [("cron", "@daily"), ("class", "NoopJob")]), ("x", [("cron", "@daily"), ("class", "NoopJob")])])
        #expect(twice.entries.count == 1 && twice.errors.first?.contains("appears twice") == true)
        let unreadable = PeriodicSchedule.parse(document: ["error": "line 4: not valid YAML: mapping values are not allowed"], file: "s.yml", knownClasses: nil)
        #expect(unreadable.errors == ["s.yml: line 4: not valid YAML: mapping values are not allowed"])
    }

    @Test("the payload of a tick: class, queue, args (and the tick's time with date_as_argument), unique fields")
    func payload() throws {
        let entry = try #require(parse([("u", [
            ("cron", "* * * * *"), ("class", "NoopJob"), ("args", [1]), ("unique_for", 30), ("date_as_argument", true),
        ])]).entries.first)
        let payload = entry.payload(tick: 1_800_000_000, now: 1_800_000_000.25)
        #expect(payload.className == "NoopJob" && payload.queue == "default" && payload.args == [1, JSONValue(1_800_000_000.0)])
        #expect(payload.object["unique_for"] == 30 && payload.object["unique_until"] == "success")
        #expect(payload.object["unique_digest"]?.stringValue == UniqueLock.digest(className: "NoopJob", queue: "default", args: payload.args))
        #expect(UniqueLock(payload: payload)?.key == UniqueLock.prefix + UniqueLock.digest(className: "NoopJob", queue: "default", args: payload.args))
        #expect(payload.enqueuedAt == 1_800_000_000.25)
    }
}

@Suite("Unique options (pure)")
struct UniqueOptionsTests {
    @Test("a lock lasts unique_for, plus the delay of a scheduled job")
    func lockTime() throws {
        let options = try UniqueOptions(seconds: 60)
        #expect(options.lockMilliseconds(at: nil, now: 1000) == 60_000)
        #expect(options.lockMilliseconds(at: 1030, now: 1000) == 90_000)
        #expect(options.lockMilliseconds(at: 900, now: 1000) == 60_000, "a time in the past is no delay")
        #expect(try UniqueOptions(seconds: 0.0005).lockMilliseconds(at: nil, now: 0) == 1)
    }

    static let invalidForms: [(JSONValue, JSONValue?)] = [
        (JSONValue(0), nil), (JSONValue(-1), nil), (JSONValue("10"), nil), (JSONValue.null, nil), (JSONValue(10), JSONValue("later")),
    ]

    @Test("unique_for must be a positive finite number; unique_until success or start", arguments: invalidForms)
    func invalid(unique: JSONValue, until: JSONValue?) {
        #expect(throws: UniqueOptions.Invalid.self) { try UniqueOptions(unique: unique, until: until) }
    }

    @Test("payload fields round-trip; ordinary payloads have no lock")
    func payloadFields() throws {
        var payload = JobPayload(className: "A", args: [1], queue: "q")
        #expect(UniqueLock(payload: payload) == nil && UniqueOptions(payload: payload) == nil)
        try UniqueOptions(seconds: 2.5, until: .start).apply(to: &payload)
        #expect(payload.object["unique_for"] == JSONValue(2.5) && payload.object["unique_until"] == "start")
        #expect(UniqueOptions(payload: payload) == (try UniqueOptions(seconds: 2.5, until: .start)))
        let lock = try #require(UniqueLock(payload: payload))
        #expect(lock.jid == payload.jid && lock.until == .start && lock.key == UniqueLock.prefix + UniqueLock.digest(className: "A", queue: "q", args: [1]))
        #expect(UniqueLock.digest(className: "A", queue: "q", args: [1]) != UniqueLock.digest(className: "A", queue: "r", args: [1]))
        #expect(UniqueLock.digest(className: "A", queue: "q", args: [1]) != UniqueLock.digest(className: "A", queue: "q", args: ["1"]))
    }
}
