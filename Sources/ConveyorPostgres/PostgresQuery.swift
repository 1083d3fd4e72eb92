/// SQL text plus its parameters. Interpolated values become `$n` binds, never text:
///
///     let q: PostgresQuery = "SELECT * FROM t WHERE id = \(id) AND name = \(name)"
///
/// Identifiers go in with `\(identifier: column)` (validated and quoted); SQL fragments
/// built by Conveyor itself with `\(unescaped: "...")`.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PostgresBindable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        /// An optional value: NULL when nil.
        public mutating func appendInterpolation<T: PostgresBindable>(_ value: T?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(identifier: SQLIdentifier) { sql += identifier.quoted }

        public mutating func appendInterpolation(table: QualifiedTableName) { sql += table.quoted }

        /// Raw SQL text. Only for fragments Conveyor builds itself, never for input.
        public mutating func appendInterpolation(unescaped fragment: String) { sql += fragment }

        /// Another query, renumbering its binds.
        public mutating func appendInterpolation(_ query: PostgresQuery) {
            var text = query.sql
            if !query.binds.isEmpty {
                // Renumber from the highest so $1 does not clobber $10.
                for i in stride(from: query.binds.count, through: 1, by: -1) {
                    text = text.replacingAll("$\(i)", with: "$#\(i + binds.count)")
                }
                text = text.replacingAll("$#", with: "$")
            }
            sql += text
            binds.append(contentsOf: query.binds)
        }
    }

    /// The SQL only; parameters are deliberately not shown.
    public var description: String { sql }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
