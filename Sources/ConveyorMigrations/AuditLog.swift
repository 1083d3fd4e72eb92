import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The audit trail of operator actions (`conveyor_audit_log`): who, when, which action on
/// which target, and each changed value before and after. `record` must be called on the
/// connection, inside the transaction, that makes the change, so an action and its entry
/// are committed (or rolled back) together.
public enum AuditLog {
    public struct Entry: Sendable {
        public let id: Int64
        public let at: Date
        public let actor: OperatorActor
        public let action: String
        public let migrationID: Int64?
        public let target: String
        /// `{"field": {"before": …, "after": …}}`.
        public let changes: JSONValue

        public var json: JSONValue {
            [
                "id": JSONValue(id), "at": .string(PostgresTimestamp.format(at)), "actor": .string(actor.user),
                "remote_address": actor.remoteAddress.map { .string($0) } ?? .null, "via": .string(actor.via),
                "action": .string(action), "migration_id": migrationID.map { JSONValue($0) } ?? .null,
                "target": .string(target), "changes": changes,
            ]
        }

        /// "batch_size 1000 → 500, status paused → active".
        public var changesText: String { Self.text(of: changes) }

        public static func text(of changes: JSONValue) -> String {
            guard let fields = changes.objectValue, !fields.isEmpty else { return "" }
            return fields.map { field in
                let before = field.value.objectValue?["before"] ?? .null
                let after = field.value.objectValue?["after"] ?? .null
                return "\(field.key) \(AuditLog.text(before)) → \(AuditLog.text(after))"
            }.joined(separator: ", ")
        }
    }

    static func text(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        if case .null = value { return "-" }
        return value.serialized()
    }

    /// One field's change.
    public static func change(_ before: JSONValue, _ after: JSONValue) -> JSONValue {
        ["before": before, "after": after]
    }

    /// `{"status": {"before": "paused", "after": "active"}}`.
    public static func statusChange(_ before: BatchedMigrationStatus?, _ after: BatchedMigrationStatus?) -> JSONValue {
        .object(JSONObject(fields: [.init(key: "status", value: change(before.map { .string($0.name) } ?? .null, after.map { .string($0.name) } ?? .null))]))
    }

    /// The target text of a migration: "migration 7 (CopyColumn… on events)".
    public static func target(_ migration: BatchedMigration) -> String {
        "migration \(migration.id) (\(migration.jobClassName) on \(migration.tableName))"
    }

    public static func record(_ db: PostgresConnection, actor: OperatorActor, action: String, migrationID: Int64?, target: String, changes: JSONValue = .object(JSONObject())) throws {
        try db.query(
            """
            INSERT INTO conveyor_audit_log (actor, remote_address, via, action, migration_id, target, changes)
            VALUES (\(actor.user), \(actor.remoteAddress), \(actor.via), \(action), \(migrationID), \(target), \(changes)::jsonb)
            """)
    }

    /// Entries oldest first: of one migration, or all of them.
    public static func history(_ db: PostgresConnection, migrationID: Int64? = nil, limit: Int = 1000) throws -> [Entry] {
        try db.query(
            """
            SELECT * FROM (
              SELECT id, at, actor, remote_address, via, action, migration_id, target, changes FROM conveyor_audit_log
              WHERE \(migrationID)::bigint IS NULL OR migration_id = \(migrationID)
              ORDER BY id DESC LIMIT \(limit)) newest
            ORDER BY id
            """
        ).map { row in
            Entry(
                id: try row["id"].int64(), at: try row["at"].date(),
                actor: OperatorActor(user: try row["actor"].string(), remoteAddress: try row["remote_address"].optionalString(), via: try row["via"].string()),
                action: try row["action"].string(), migrationID: try row["migration_id"].optionalInt64(), target: try row["target"].string(),
                changes: try row["changes"].json())
        }
    }
}
