import ConveyorJSON
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// All rows of a result, copied out of libpq (values as text, NULL as nil).
public struct PostgresResult: Sendable, RandomAccessCollection {
    public let columns: PostgresColumns
    let values: [String?]
    /// Rows touched by INSERT/UPDATE/DELETE (`PQcmdTuples`).
    public let affectedRows: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.names.isEmpty ? 0 : values.count / columns.names.count }
    public subscript(position: Int) -> PostgresRow {
        let width = columns.names.count
        return PostgresRow(columns: columns, values: values[(position * width)..<((position + 1) * width)])
    }

    /// The only row, or nil when there is none.
    public var first: PostgresRow? { isEmpty ? nil : self[0] }
}

/// Column names of a result, shared by its rows.
public final class PostgresColumns: Sendable {
    public let names: [String]
    init(names: [String]) { self.names = names }

    func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

public struct PostgresRow: Sendable {
    public let columns: PostgresColumns
    let values: ArraySlice<String?>

    public subscript(index: Int) -> PostgresCell {
        PostgresCell(column: columns.names[index], text: values[values.startIndex + index])
    }

    /// A missing column name is a programming error and traps with its name.
    public subscript(name: String) -> PostgresCell {
        guard let index = columns.index(of: name) else {
            preconditionFailure("result has no column '\(name)' (columns: \(columns.names.joined(separator: ", ")))")
        }
        return self[index]
    }
}

/// One value of a row, decoded on request.
public struct PostgresCell: Sendable {
    public let column: String
    /// The text PostgreSQL sent, nil for NULL.
    public let text: String?

    public var isNull: Bool { text == nil }

    private func failure(_ type: String) -> PostgresError {
        PostgresError(.decoding, "column '\(column)' holds \(text.map { "'\($0.prefix(40))'" } ?? "NULL"), not \(type)")
    }

    public func string() throws(PostgresError) -> String {
        guard let text else { throw failure("text") }
        return text
    }

    public func int() throws(PostgresError) -> Int {
        guard let text, let value = Int(text) else { throw failure("an integer") }
        return value
    }

    public func int64() throws(PostgresError) -> Int64 {
        guard let text, let value = Int64(text) else { throw failure("a bigint") }
        return value
    }

    public func bool() throws(PostgresError) -> Bool {
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: throw failure("a boolean")
        }
    }

    /// float4/float8 and numeric (as the nearest double).
    public func double() throws(PostgresError) -> Double {
        guard let text else { throw failure("a number") }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(text) else { throw failure("a number") }
            return value
        }
    }

    /// numeric as its exact decimal text.
    public func decimal() throws(PostgresError) -> Decimal {
        guard let text, let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else { throw failure("a numeric") }
        return value
    }

    public func date() throws(PostgresError) -> Date {
        guard let text, let value = PostgresTimestamp.parse(text) else { throw failure("a timestamp") }
        return value
    }

    public func json() throws(PostgresError) -> JSONValue {
        guard let text else { throw failure("json") }
        do { return try JSONValue.parse(text) } catch { throw failure("json (\(error.reason))") }
    }

    // Optional variants: NULL gives nil, anything else must decode.
    public func optionalString() throws(PostgresError) -> String? { isNull ? nil : try string() }
    public func optionalInt() throws(PostgresError) -> Int? { isNull ? nil : try int() }
    public func optionalInt64() throws(PostgresError) -> Int64? { isNull ? nil : try int64() }
    public func optionalDouble() throws(PostgresError) -> Double? { isNull ? nil : try double() }
    public func optionalBool() throws(PostgresError) -> Bool? { isNull ? nil : try bool() }
    public func optionalDate() throws(PostgresError) -> Date? { isNull ? nil : try date() }
    public func optionalJSON() throws(PostgresError) -> JSONValue? { isNull ? nil : try json() }
}
