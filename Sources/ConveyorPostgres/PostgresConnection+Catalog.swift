/// Catalog lookups that turn user-supplied names into identifiers known to exist.
extension PostgresConnection {
    /// The table as the catalog knows it, or an `.invalidIdentifier` error saying it does
    /// not exist. Unqualified names follow `search_path`.
    public func resolveTable(_ text: String) throws(PostgresError) -> QualifiedTableName {
        let name = try QualifiedTableName(parsing: text)
        if let cached: QualifiedTableName = cached("table:" + text) { return cached }
        let rows = try query(
            """
            SELECT n.nspname AS schema, c.relname AS name
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = \(name.table.name) AND c.relkind IN ('r', 'p')
              AND (n.nspname = \(name.schema?.name) OR (\(name.schema?.name)::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)))
            """)
        guard let row = rows.first else {
            throw PostgresError(.invalidIdentifier, "table '\(text)' does not exist")
        }
        let resolved = QualifiedTableName(schema: try SQLIdentifier(row["schema"].string()), table: try SQLIdentifier(row["name"].string()))
        remember("table:" + text, resolved)
        return resolved
    }

    /// Forgets cached catalog answers (after DDL of your own).
    public func invalidateCatalogCache() { catalogCache.removeAll() }

    private func cached<T>(_ key: String) -> T? {
        guard let entry = catalogCache[key], entry.expires > .now else { return nil }
        return entry.value as? T
    }

    private func remember(_ key: String, _ value: Any) {
        if catalogCache.count > 1000 { catalogCache.removeAll() }
        catalogCache[key] = (.now + .seconds(10), value)
    }

    /// Column names and types of a table, in order.
    public func columns(of table: QualifiedTableName) throws(PostgresError) -> [(name: String, type: String)] {
        if let cached: [(name: String, type: String)] = cached("columns:" + table.quoted) { return cached }
        let rows = try query(
            """
            SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = to_regclass(\(table.quoted)) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """)
        let columns = try rows.map { row throws(PostgresError) in (name: try row["name"].string(), type: try row["type"].string()) }
        remember("columns:" + table.quoted, columns)
        return columns
    }

    /// The column as an identifier, or an error naming the table when it has no such column.
    public func resolveColumn(_ name: String, in table: QualifiedTableName) throws(PostgresError) -> SQLIdentifier {
        let identifier = try SQLIdentifier(name)
        guard try columns(of: table).contains(where: { $0.name == name }) else {
            throw PostgresError(.invalidIdentifier, "column '\(name)' does not exist in table '\(table)'")
        }
        return identifier
    }
}
