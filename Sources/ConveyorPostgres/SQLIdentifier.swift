/// A table, column or schema name that is safe to put in SQL: checked against a strict
/// pattern when created and always double-quoted when written. Names that arrive from
/// users should also be looked up in the catalog (`PostgresConnection.resolveTable`).
public struct SQLIdentifier: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    /// Accepts 1–63 bytes of letters, digits, `_`, `$`, spaces, `-` and `"`; refuses
    /// control characters and SQL punctuation (`;`, `'`, `\`, `(`, `)`, `,`, `.`, `*`, `=`).
    public init(_ name: String) throws(PostgresError) {
        guard !name.isEmpty else { throw PostgresError(.invalidIdentifier, "an empty name is not a valid identifier") }
        guard name.utf8.count <= 63 else {
            throw PostgresError(.invalidIdentifier, "identifier '\(name.prefix(70))' is longer than PostgreSQL's 63-byte limit")
        }
        for scalar in name.unicodeScalars {
            let ok: Bool
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "$", " ", "-", "\"": ok = true
            default: ok = scalar.value > 127 && scalar.properties.isAlphabetic
            }
            guard ok else {
                throw PostgresError(
                    .invalidIdentifier,
                    "refusing identifier '\(name)': the character '\(scalar.escaped(asASCII: true))' is not allowed in table or column names here")
            }
        }
        guard name.first != " ", name.last != " " else {
            throw PostgresError(.invalidIdentifier, "refusing identifier '\(name)': leading or trailing spaces")
        }
        self.name = name
    }

    /// The name in double quotes with inner quotes doubled: `a"b` becomes `"a""b"`.
    /// Doubled by Unicode scalar, not by Character: a quote followed by a combining mark is
    /// one Character (`"\u{0651}`) but still a quote to PostgreSQL (found by scripts/fuzz).
    public var quoted: String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for scalar in name.unicodeScalars {
            out.append(scalar)
            if scalar == "\"" { out.append(scalar) }
        }
        out.append("\"")
        return String(out)
    }

    public var description: String { name }
}

/// `table` or `schema.table`, each part an `SQLIdentifier`.
public struct QualifiedTableName: Sendable, Hashable, CustomStringConvertible {
    public let schema: SQLIdentifier?
    public let table: SQLIdentifier

    public init(schema: SQLIdentifier? = nil, table: SQLIdentifier) {
        self.schema = schema
        self.table = table
    }

    /// Parses `name` or `schema.name`.
    public init(parsing text: String) throws(PostgresError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            self.init(table: try SQLIdentifier(text))
        case 2:
            self.init(schema: try SQLIdentifier(String(parts[0])), table: try SQLIdentifier(String(parts[1])))
        default:
            throw PostgresError(.invalidIdentifier, "refusing table name '\(text)': expected 'table' or 'schema.table'")
        }
    }

    public var quoted: String { schema.map { "\($0.quoted).\(table.quoted)" } ?? table.quoted }
    public var description: String { schema.map { "\($0.name).\(table.name)" } ?? table.name }
}
