import ConveyorPostgres

/// What the catalog says about a table, as far as choosing how to batch it goes: its
/// columns (type, nullability) and its indexes (columns in order, unique, partial).
public struct TableFacts: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        /// `format_type`, e.g. `integer`, `uuid`, `timestamp with time zone`.
        public var type: String
        public var notNull: Bool

        public init(name: String, type: String, notNull: Bool) {
            self.name = name
            self.type = type
            self.notNull = notNull
        }

        static let integerTypes: Set<String> = ["smallint", "integer", "bigint"]
        public var isInteger: Bool { Self.integerTypes.contains(type) }
    }

    public struct Index: Sendable, Equatable {
        public var name: String
        /// Key columns in order; nil for an expression.
        public var columns: [String?]
        public var isUnique: Bool
        public var isPrimary: Bool
        /// Partial (`WHERE …`), not valid yet, or not a btree: no use for a walk.
        public var isUsable: Bool

        public init(name: String, columns: [String?], isUnique: Bool, isPrimary: Bool = false, isUsable: Bool = true) {
            self.name = name
            self.columns = columns
            self.isUnique = isUnique
            self.isPrimary = isPrimary
            self.isUsable = isUsable
        }

        var describedColumns: String { "(" + columns.map { $0 ?? "<expression>" }.joined(separator: ", ") + ")" }
    }

    public var table: String
    public var columns: [Column]
    public var indexes: [Index]

    public init(table: String, columns: [Column], indexes: [Index]) {
        self.table = table
        self.columns = columns
        self.indexes = indexes
    }

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

    /// Reads the facts of a resolved table.
    public static func load(_ table: QualifiedTableName, db: PostgresConnection) throws -> TableFacts {
        let columns = try db.query(
            """
            SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = to_regclass(\(table.quoted)) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """
        ).map { Column(name: try $0["name"].string(), type: try $0["type"].string(), notNull: try $0["not_null"].bool()) }
        let indexes = try db.query(
            """
            SELECT c.relname AS name, i.indisunique AS is_unique, i.indisprimary AS is_primary,
                   (i.indpred IS NULL AND i.indisvalid AND am.amname = 'btree') AS usable,
                   to_jsonb(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                                  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                                  WHERE k.ord <= i.indnkeyatts ORDER BY k.ord)) AS columns
            FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = c.relam
            WHERE i.indrelid = to_regclass(\(table.quoted)) ORDER BY i.indisprimary DESC, c.relname
            """
        ).map { row in
            Index(
                name: try row["name"].string(), columns: (try row["columns"].json().arrayValue ?? []).map(\.stringValue),
                isUnique: try row["is_unique"].bool(), isPrimary: try row["is_primary"].bool(), isUsable: try row["usable"].bool())
        }
        return TableFacts(table: table.description, columns: columns, indexes: indexes)
    }
}
