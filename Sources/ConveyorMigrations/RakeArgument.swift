import ConveyorPlatform

/// GitLab's single-argument rake form, split into its fields without interpreting them:
/// `[CopyColumnUsingBackgroundMigrationJob,events,id,'[["id"]\, ["id_convert_to_bigint"]]']`
/// (also without brackets, quotes or backslashes). A backslash takes the next character
/// literally; quotes at bracket depth 0 group; commas split only at depth 0 and only the
/// first three. Pure, so the fuzzer (`scripts/fuzz rake_argument`) runs it alone.
enum RakeArgument {
    /// The 3 or 4 fields (trimmed), or nil when the text does not have that shape.
    static func fields(_ text: String) -> [String]? {
        var body = text.trimmed()
        if let start = body.firstIndex(of: "["), body.hasSuffix("]"), !body.hasPrefix("[[") {
            // Strip "gitlab:background_migrations:finalize" or similar prefixes too.
            body = String(body[body.index(after: start)..<body.index(before: body.endIndex)])
        }
        var parts: [String] = []
        var current = ""
        var depth = 0
        var quote: Character?
        var iterator = body.makeIterator()
        while let c = iterator.next() {
            if c == "\\" {
                if let next = iterator.next() { current.append(next) }
                continue
            }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
                continue
            }
            switch c {
            case "'" where depth == 0, "\"" where depth == 0: quote = c
            case "[", "{": depth += 1; current.append(c)
            case "]", "}": depth -= 1; current.append(c)
            case "," where depth == 0 && parts.count < 3:
                parts.append(current.trimmed())
                current = ""
            default: current.append(c)
            }
        }
        parts.append(current.trimmed())
        guard parts.count == 3 || parts.count == 4, parts.prefix(3).allSatisfy({ !$0.isEmpty }) else { return nil }
        return parts
    }

    /// The form GitLab prints (`…finalize[JobClass,table,column,'json']`, commas in the
    /// JSON escaped with a backslash), for the fuzzer's round trip.
    static func gitLabForm(jobClass: String, table: String, column: String, argumentsJSON: String) -> String {
        "gitlab:background_migrations:finalize[\(jobClass),\(table),\(column),'\(argumentsJSON.split(separator: ",", omittingEmptySubsequences: false).joined(separator: "\\,"))']"
    }
}
