import ConveyorJSON
import Yams

/// Reads a schedule file in sidekiq-cron's `schedule.yml` format (a mapping of entry name
/// to its fields, or a sequence of mappings that carry `name`) into the JSON document
/// `ScheduleDocument` (ConveyorQueue) validates, keeping the line of every entry and field
/// so errors can name it. Only this module and the program that links it (conveyor-web)
/// need Yams and with it all of Foundation; the worker runs that program to read its file.
public enum ScheduleYAML {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let line: Int?
        public let message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }
    }

    /// The document: `{"entries": [{"name", "line", "fields": [{"key", "line", "value"}]}]}`.
    public static func document(yaml text: String) throws(Failure) -> JSONValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Failure(line: Self.line(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw Failure(line: nil, message: "not valid YAML: \(error)")
        }
        var entries: [JSONValue] = []
        switch root {
        case nil:
            break  // an empty file: no entries
        case .mapping(let mapping)?:
            for (key, value) in mapping {
                guard let name = key.scalar?.string else {
                    throw Failure(line: key.mark?.line, message: "an entry name must be a string")
                }
                entries.append(try entry(name: name, line: key.mark?.line ?? 0, node: value))
            }
        case .sequence(let sequence)?:
            for item in sequence {
                guard case .mapping(let mapping) = item, let nameNode = mapping["name"], let name = nameNode.scalar?.string else {
                    throw Failure(line: item.mark?.line, message: "each item of a list schedule must be a mapping with a 'name'")
                }
                entries.append(try entry(name: name, line: item.mark?.line ?? 0, node: item, skipping: "name"))
            }
        default:
            throw Failure(line: root?.mark?.line, message: "a schedule is a mapping of entry names to their fields (sidekiq-cron's schedule.yml)")
        }
        return ["entries": .array(entries)]
    }

    static func entry(name: String, line: Int, node: Node, skipping: String? = nil) throws(Failure) -> JSONValue {
        guard case .mapping(let mapping) = node else {
            throw Failure(line: node.mark?.line ?? line, message: "entry '\(name)' must be a mapping of fields (cron, class, …)")
        }
        var fields: [JSONValue] = []
        for (key, value) in mapping {
            guard let text = key.scalar?.string else {
                throw Failure(line: key.mark?.line, message: "entry '\(name)': field names must be strings")
            }
            if text == skipping { continue }
            fields.append(["key": .string(text), "line": JSONValue(key.mark?.line ?? line), "value": try json(value, entry: name)])
        }
        return ["name": .string(name), "line": JSONValue(line), "fields": .array(fields)]
    }

    /// YAML values as JSON: scalars by their resolved tag (YAML 1.1, as Ruby's Psych reads
    /// sidekiq-cron files), mappings with string keys, sequences.
    static func json(_ node: Node, entry: String) throws(Failure) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch node.tag.description {
            case "tag:yaml.org,2002:null": return .null
            case "tag:yaml.org,2002:bool": return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case "tag:yaml.org,2002:int": return node.int.map { JSONValue($0) } ?? .string(scalar.string)
            case "tag:yaml.org,2002:float":
                guard let value = node.float, value.isFinite else { return .string(scalar.string) }
                return JSONValue(value)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try json(item, entry: entry)) }
            return .array(items)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard let text = key.scalar?.string else {
                    throw Failure(line: key.mark?.line, message: "entry '\(entry)': mapping keys must be strings")
                }
                object[text] = try json(value, entry: entry)
            }
            return .object(object)
        case .alias:
            throw Failure(line: node.mark?.line, message: "entry '\(entry)': YAML aliases are not supported in schedule files")
        }
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            return context.map { "\(problem) (\($0.text))" } ?? problem
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicate keys: \(duplicates.joined(separator: ", "))"
        default:
            return String(describing: error).split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }
}
