import ArgumentParser
import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres

struct MigrationsUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a migration's pace while it runs (from its next batch).",
        discussion: """
            Example: conveyor migrations update 7 --batch-size 5000 --pause-ms 20
            Workers read the migration after every batch, so the next batch uses the new
            values; the batch in flight finishes with the old ones. With the optimizer
            on (optimize_batched_migrations) the batch size is tuned from the new one.
            Limits: --batch-size 1...10000000 (≥ sub-batch size, ≤ max batch size),
            --sub-batch-size 1...1000000, --pause-ms 0...600000, --interval 0...86400,
            --max-batch-size 1...10000000. A value out of range is refused and nothing
            changes. Recorded in the audit trail (conveyor migrations history ID).
            """)
    @OptionGroup var target: MigrationIDArgument
    @Option(help: "Rows per batch.") var batchSize: Int?
    @Option(help: "Rows per sub-batch statement.") var subBatchSize: Int?
    @Option(name: .customLong("pause-ms"), help: "Milliseconds to pause between sub-batches.") var pauseMilliseconds: Int?
    @Option(help: "Seconds between batches.") var interval: Int?
    @Option(help: "Upper limit for the batch-size optimizer.") var maxBatchSize: Int?
    @Flag(help: "Print the migration as JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let tuning = MigrationTuning(
                batchSize: batchSize, subBatchSize: subBatchSize, pauseMilliseconds: pauseMilliseconds, interval: interval, maxBatchSize: maxBatchSize)
            let (before, after) = try BatchedMigrationStore(db: db).update(target.id, tuning, actor: .currentOSUser())
            if json {
                printJSON(try migrationJSON(after, db: db))
                return
            }
            let changes = MigrationTuning.Values(before).changes(to: MigrationTuning.Values(after))
            let text = changes.objectValue.map { fields in
                fields.map { "\($0.key) \(Self.text($0.value.objectValue?["before"])) → \(Self.text($0.value.objectValue?["after"]))" }.joined(separator: ", ")
            } ?? ""
            print("migration \(after.id) updated\(text.isEmpty ? " (no change)" : ": " + text); applies from its next batch")
        }
    }

    static func text(_ value: JSONValue?) -> String {
        guard let value, value != .null else { return "none" }
        return value.serialized()
    }
}

struct MigrationsHistory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "The audit trail: who queued, paused, resumed, retried, updated, finalized or deleted what, and when.",
        discussion: "Without ID: every operator action, settings included. JSON fields: id, at, actor, remote_address, via, action, migration_id, target, changes ({field: {before, after}}).")
    @Argument(help: "Migration id (default: all).") var id: Int64?
    @Option(help: "At most this many entries (the newest).") var limit = 1000
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let entries = try AuditLog.history(db, migrationID: id, limit: max(1, limit))
            if json {
                printJSON(.array(entries.map(\.json)))
                return
            }
            if entries.isEmpty {
                print(id.map { "No recorded actions for migration \($0)." } ?? "No recorded actions.")
                return
            }
            var rows = [["AT", "ACTOR", "ACTION", "TARGET", "CHANGES"]]
            for entry in entries {
                rows.append([PostgresTimestamp.format(entry.at), entry.actor.label, entry.action, entry.target, entry.changesText])
            }
            printTable(rows)
        }
    }
}

struct MigrationsDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a migration and its jobs, so its configuration can be queued again. Requires --yes.",
        discussion: "GitLab's delete_batched_background_migration. What it already changed in the table stays changed; its audit trail stays.")
    @OptionGroup var target: MigrationIDArgument
    @Flag(help: "Confirm: the migration, its jobs and their logs are deleted.") var yes = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let store = BatchedMigrationStore(db: try migrationsDatabase(connection))
            let migration = try store.require(target.id)
            guard yes else {
                throw CLIError(message: "This deletes migration \(migration.id) (\(migration.jobClassName) on \(migration.tableName), \(migration.status.name)) and its jobs. Re-run with --yes.")
            }
            let (deleted, jobs) = try store.delete(target.id, actor: .currentOSUser())
            print("migration \(deleted.id) deleted with \(jobs) job\(jobs == 1 ? "" : "s"); \(deleted.configuration) can be queued again")
        }
    }
}
