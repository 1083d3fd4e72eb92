import ConveyorJSON
import ConveyorScheduleYAML
import Foundation

/// `conveyor-web --schedule-to-json FILE`: the schedule file as the JSON document the
/// worker validates, or `{"error": "…"}` (always exit 0: the caller reports the error).
enum ScheduleYAMLCommand {
    static func convert(path: String) -> JSONValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            return ["error": .string("cannot read \(path): \((error as NSError).localizedDescription)")]
        }
        do {
            return try ScheduleYAML.document(yaml: text)
        } catch {
            return ["error": .string(error.description), "line": error.line.map { JSONValue($0) } ?? nil]
        }
    }
}
