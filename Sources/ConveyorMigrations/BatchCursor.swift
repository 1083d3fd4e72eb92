import ConveyorJSON
import ConveyorPostgres

/// A position in a cursor walk: the values of the cursor's columns for one row, as the
/// jsonb array GitLab keeps in `min_cursor`/`max_cursor` (`[7, 1234]`, `["2f1c…"]`).
/// PostgreSQL writes them (`jsonb_build_array`), so every orderable type round-trips:
/// integers as numbers, uuid/text/timestamptz as their text. They go back to the server
/// as untyped `$n` parameters, which take the type of the column they are compared with.
public struct BatchCursor: Sendable, Hashable, CustomStringConvertible {
    public let values: [JSONValue]

    /// Refuses anything but a non-empty array of non-null scalars.
    public init(_ json: JSONValue) throws {
        guard let values = json.arrayValue, !values.isEmpty else {
            throw MigrationError(.invalidArguments, "a cursor is a non-empty JSON array of values, got \(json.serialized())")
        }
        for value in values {
            switch value {
            case .string, .number, .bool: continue
            case .null: throw MigrationError(.invalidArguments, "a cursor cannot hold NULL: \(json.serialized())")
            case .array, .object: throw MigrationError(.invalidArguments, "a cursor holds scalar values only, got \(json.serialized())")
            }
        }
        self.values = values
    }

    public init(integer: Int64) { values = [JSONValue(integer)] }

    /// A key as a query returns it: a bigint's text or a cursor's JSON array; nil for NULL.
    static func decode(text: String?) throws -> BatchCursor? {
        guard let text else { return nil }
        if let integer = Int64(text) { return BatchCursor(integer: integer) }
        return try BatchCursor(JSONValue.parse(text))
    }

    /// A jsonb column that may hold a cursor: SQL NULL and JSON null are both none.
    static func decode(_ cell: PostgresCell) throws -> BatchCursor? {
        guard let json = try cell.optionalJSON(), !json.isNull else { return nil }
        return try BatchCursor(json)
    }

    public var json: JSONValue { .array(values) }

    /// The values as PostgreSQL text input, one bind each.
    public var binds: [String] {
        values.map { value in
            switch value {
            case .string(let text): return text
            case .number(let number): return number.text
            case .bool(let flag): return flag ? "true" : "false"
            default: return value.serialized()
            }
        }
    }

    /// The single integer of an integer-keyed walk.
    public var integer: Int64? { values.count == 1 ? values[0].int64Value : nil }

    /// `[7,1234]`: the JSON, which is also how psql shows the jsonb.
    public var description: String { json.serialized() }
}
