import ConveyorPostgres

/// Operator settings kept in `conveyor_settings`, named after GitLab's flags and settings.
public struct MigrationSettings: Sendable, Equatable {
    /// How many batched migrations run at once (GitLab's
    /// `database_max_running_batched_background_migrations`).
    public var maxRunningMigrations = 2
    /// The global switch (GitLab's `execute_batched_migrations_on_schedule` flag).
    public var executeOnSchedule = true
    /// Automatic batch-size tuning (GitLab's `optimize_batched_migrations`).
    public var optimize = true
    /// How long a health signal puts a migration on hold.
    public var holdSeconds = 600
    /// `statement_timeout` for each sub-batch statement.
    public var subBatchTimeoutMilliseconds = 120_000
    /// A replication slot this far behind (bytes) counts as too much lag.
    public var maxReplicationLagBytes = 100 * 1024 * 1024
    /// WAL segments waiting to be archived beyond which migrations hold.
    public var walArchiveQueueLimit = 42
    /// Soft limit: replicas this far behind in replay (bytes) stretch the pause between
    /// batches (0 turns it off).
    public var throttleReplicationLagBytes = 16 * 1024 * 1024
    /// Soft limit: WAL written faster than this (bytes per second) stretches the pause
    /// between batches (0, the default, turns it off).
    public var throttleWALBytesPerSecond = 0

    public init() {}

    public struct Definition: @unchecked Sendable {  // key paths are immutable values
        public let name: String
        public let summary: String
        let keyPath: WritableKeyPath<MigrationSettings, Int>?
        let flag: WritableKeyPath<MigrationSettings, Bool>?
    }

    public static let definitions: [Definition] = [
        Definition(name: "database_max_running_batched_background_migrations", summary: "batched migrations run in parallel (one per table)", keyPath: \.maxRunningMigrations, flag: nil),
        Definition(name: "execute_batched_migrations_on_schedule", summary: "global switch: workers start new batches only when true", keyPath: nil, flag: \.executeOnSchedule),
        Definition(name: "optimize_batched_migrations", summary: "tune batch_size from batch durations", keyPath: nil, flag: \.optimize),
        Definition(name: "batched_migration_hold_seconds", summary: "how long a health signal holds a migration", keyPath: \.holdSeconds, flag: nil),
        Definition(name: "sub_batch_statement_timeout_ms", summary: "statement_timeout of each sub-batch statement", keyPath: \.subBatchTimeoutMilliseconds, flag: nil),
        Definition(name: "max_replication_lag_bytes", summary: "replication slot lag that holds migrations", keyPath: \.maxReplicationLagBytes, flag: nil),
        Definition(name: "wal_archive_queue_limit", summary: "unarchived WAL segments that hold migrations", keyPath: \.walArchiveQueueLimit, flag: nil),
        Definition(name: "throttle_replication_lag_bytes", summary: "replica replay lag that slows migrations down (0 = off)", keyPath: \.throttleReplicationLagBytes, flag: nil),
        Definition(name: "throttle_wal_bytes_per_second", summary: "WAL rate that slows migrations down (0 = off)", keyPath: \.throttleWALBytesPerSecond, flag: nil),
    ]

    public func value(of definition: Definition) -> String {
        if let keyPath = definition.keyPath { return String(self[keyPath: keyPath]) }
        return String(self[keyPath: definition.flag!])
    }

    public struct InvalidSetting: Error, CustomStringConvertible {
        public let description: String
    }

    /// Applies a textual value, validating it.
    public mutating func set(_ name: String, _ text: String) throws(InvalidSetting) {
        guard let definition = Self.definitions.first(where: { $0.name == name }) else {
            throw InvalidSetting(description: "unknown setting '\(name)'; known: \(Self.definitions.map(\.name).joined(separator: ", "))")
        }
        if let keyPath = definition.keyPath {
            guard let number = Int(text), number >= (name == "database_max_running_batched_background_migrations" ? 1 : 0) else {
                throw InvalidSetting(description: "\(name) must be a whole number\(name == "database_max_running_batched_background_migrations" ? " ≥ 1" : " ≥ 0"), got '\(text)'")
            }
            self[keyPath: keyPath] = number
        } else if let flag = definition.flag {
            switch text.lowercased() {
            case "true", "on", "1", "yes": self[keyPath: flag] = true
            case "false", "off", "0", "no": self[keyPath: flag] = false
            default: throw InvalidSetting(description: "\(name) must be true or false, got '\(text)'")
            }
        }
    }

    /// `execute_batched_migrations_on_schedule` from its stored text (on when unset).
    static func switchValue(_ text: String?) -> Bool {
        var settings = MigrationSettings()
        if let text { try? settings.set("execute_batched_migrations_on_schedule", text) }
        return settings.executeOnSchedule
    }

    public static func load(_ db: PostgresConnection) throws -> MigrationSettings {
        var settings = MigrationSettings()
        for row in try db.query("SELECT name, value FROM conveyor_settings") {
            let name = try row["name"].string()
            guard definitions.contains(where: { $0.name == name }) else { continue }
            try? settings.set(name, try row["value"].string())
        }
        return settings
    }

    public static func store(_ name: String, _ value: String, _ db: PostgresConnection) throws {
        var check = MigrationSettings()
        try check.set(name, value)
        let normalised = check.value(of: definitions.first { $0.name == name }!)
        try db.query(
            """
            INSERT INTO conveyor_settings (name, value) VALUES (\(name), \(normalised))
            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            """)
    }
}
