import ConveyorJSON

/// A schedule file's entries, validated from the document the YAML reader produces
/// (`{"entries": [{"name", "line", "fields": [{"key", "line", "value"}]}]}`, see
/// ConveyorScheduleYAML). Every bad entry becomes one line naming the file, the line and
/// the entry; good entries are kept, so a reload can apply them and keep the rest.
public struct PeriodicSchedule: Sendable, Equatable {
    public var entries: [PeriodicEntry]
    /// One line per refused entry: `schedule.yml:7: entry 'report': cron "0 25 * * *": hour 25 is out of range (0-23)`.
    public var errors: [String]
    /// Names of the refused entries.
    public var refused: [String]

    public init(entries: [PeriodicEntry] = [], errors: [String] = [], refused: [String] = []) {
        self.entries = entries
        self.errors = errors
        self.refused = refused
    }

    public static func parse(document: JSONValue, file: String, knownClasses: Set<String>?, zoneDirectory: String = "/usr/share/zoneinfo") -> PeriodicSchedule {
        var schedule = PeriodicSchedule()
        if let error = document["error"]?.stringValue {
            schedule.errors.append("\(file): \(error)")
            return schedule
        }
        guard case .array(let items)? = document["entries"] else {
            schedule.errors.append("\(file): the schedule reader returned no entries")
            return schedule
        }
        var seen: Set<String> = []
        for item in items {
            let name = item["name"]?.stringValue ?? ""
            let line = item["line"]?.intValue ?? 0
            var fields: [(key: String, value: JSONValue)] = []
            var lines: [String: Int] = [:]
            for field in item["fields"]?.arrayValue ?? [] {
                guard let key = field["key"]?.stringValue else { continue }
                fields.append((key, field["value"] ?? .null))
                lines[key] = field["line"]?.intValue
            }
            guard seen.insert(name).inserted else {
                schedule.errors.append("\(file):\(line): entry '\(name)' appears twice")
                schedule.refused.append(name)
                continue
            }
            do {
                schedule.entries.append(try PeriodicEntry(name: name, fields: fields, knownClasses: knownClasses, zoneDirectory: zoneDirectory))
            } catch {
                let at = error.key.flatMap { lines[$0] } ?? line
                schedule.errors.append("\(file):\(at): entry '\(name)': \(error.message)")
                schedule.refused.append(name)
            }
        }
        return schedule
    }
}
