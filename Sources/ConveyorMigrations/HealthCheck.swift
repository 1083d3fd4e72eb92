import ConveyorPostgres

/// Database health indicators that put a migration on hold (GitLab's health status):
/// autovacuum working on the migration's table, too much WAL waiting to be archived, and
/// replication slots lagging too far behind.
public enum HealthCheck {
    public enum Kind: String, Sendable { case normal, stop, notAvailable, unknown }

    public struct Signal: Sendable, CustomStringConvertible {
        public let indicator: String
        public let kind: Kind
        public let reason: String
        public var description: String { "\(kind.rawValue) (indicator: \(indicator); reason: \(reason))" }
    }

    public static func evaluate(_ migration: BatchedMigration, settings: MigrationSettings, db: PostgresConnection) -> [Signal] {
        [
            run("AutovacuumActiveOnTable") { try autovacuum(migration, db) },
            run("WriteAheadLog") { try walArchiveQueue(limit: settings.walArchiveQueueLimit, db) },
            run("ReplicationLag") { try replicationLag(maxBytes: settings.maxReplicationLagBytes, db) },
        ]
    }

    static func run(_ indicator: String, _ body: () throws -> (Kind, String)) -> Signal {
        do {
            let (kind, reason) = try body()
            return Signal(indicator: indicator, kind: kind, reason: reason)
        } catch {
            return Signal(indicator: indicator, kind: .unknown, reason: "unexpected error: \(error)")
        }
    }

    /// Autovacuum (VACUUM or ANALYZE) running on the table.
    static func autovacuum(_ migration: BatchedMigration, _ db: PostgresConnection) throws -> (Kind, String) {
        let table = try db.resolveTable(migration.tableName)
        let active = try db.query(
            """
            SELECT count(*) AS n FROM pg_catalog.pg_stat_activity a
            WHERE a.backend_type = 'autovacuum worker' AND a.pid IN (
              SELECT pid FROM pg_catalog.pg_stat_progress_vacuum WHERE relid = to_regclass(\(table.quoted))
              UNION SELECT pid FROM pg_catalog.pg_stat_progress_analyze WHERE relid = to_regclass(\(table.quoted)))
            """).first?["n"].int() ?? 0
        return active > 0
            ? (.stop, "autovacuum running on: \(migration.tableName)")
            : (.normal, "no autovacuum running on any relevant tables")
    }

    /// WAL segments not yet archived, when archiving is on.
    static func walArchiveQueue(limit: Int, _ db: PostgresConnection) throws -> (Kind, String) {
        let row = try db.query(
            """
            SELECT current_setting('archive_mode') AS mode, pg_is_in_recovery() AS replica,
                   (SELECT last_archived_wal FROM pg_catalog.pg_stat_archiver) AS archived
            """).first
        guard try row?["mode"].string() != "off", try row?["replica"].bool() == false,
            let archived = try row?["archived"].optionalString()
        else {
            return (.notAvailable, "WAL archive queue can not be calculated")
        }
        let current = try db.query("SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS name").first?["name"].string() ?? ""
        guard let pending = segmentDistance(from: archived, to: current) else {
            return (.notAvailable, "WAL archive queue can not be calculated")
        }
        return pending > limit ? (.stop, "WAL archive queue is too big (\(pending) segments)") : (.normal, "WAL archive queue is within limit")
    }

    /// Segments between two WAL file names (`TTTTTTTTLLLLLLLLSSSSSSSS`).
    static func segmentDistance(from archived: String, to current: String) -> Int? {
        func parts(_ name: String) -> (Int, Int)? {
            guard name.count >= 24 else { return nil }
            let chars = Array(name)
            guard let log = Int(String(chars[8..<16]), radix: 16), let segment = Int(String(chars[16..<24]), radix: 16) else { return nil }
            return (log, segment)
        }
        guard let a = parts(archived), let c = parts(current) else { return nil }
        return (c.0 - a.0) * 256 + (c.1 - a.1)
    }

    /// GitLab's replication-slot rule: unhealthy when a slot is `maxBytes` behind and at
    /// most one slot is keeping up.
    static func replicationLag(maxBytes: Int, _ db: PostgresConnection) throws -> (Kind, String) {
        guard try db.query("SELECT pg_is_in_recovery() AS replica").first?["replica"].bool() == false else {
            return (.notAvailable, "replication lag is measured on the primary")
        }
        let lags = try db.query(
            """
            SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::float8 AS lag
            FROM pg_catalog.pg_replication_slots WHERE restart_lsn IS NOT NULL
            """)
        guard !lags.isEmpty else { return (.notAvailable, "no replication slots") }
        let behind = try lags.filter { try $0["lag"].double() >= Double(maxBytes) }
        if !behind.isEmpty && lags.count - behind.count <= 1 {
            let names = try behind.map { try $0["slot_name"].string() }.joined(separator: ", ")
            return (.stop, "replication lag too great on slot(s): \(names)")
        }
        return (.normal, "replication lag within limit")
    }
}
