import ArgumentParser
import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorPlatform

struct MigrationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrations",
        abstract: "Batched background migrations: queue, watch, pause, retry, finalize.",
        discussion: """
            The tables follow GitLab's (batched_background_migrations, ..._jobs,
            ..._job_transition_logs), so GitLab's SQL works against DATABASE_URL, e.g.
              SELECT job_class_name, table_name, column_name, job_arguments
              FROM batched_background_migrations WHERE status <> 3;
            Worker processes run batches automatically (see `conveyor worker --help`).
            """,
        subcommands: [
            MigrationsSetup.self, MigrationsQueue.self, MigrationsStatus.self, MigrationsShow.self,
            MigrationsPause.self, MigrationsResume.self, MigrationsRetry.self,
            MigrationsFinalize.self, MigrationsEnsureFinished.self, MigrationsMarkFinished.self,
            MigrationsDisable.self, MigrationsEnable.self, MigrationsMaxRunning.self, MigrationsSettings.self,
            MigrationsWait.self, MigrationsEstimate.self, MigrationsUpdate.self, MigrationsHistory.self,
            MigrationsDelete.self,
        ])
}

/// Opens the database with the schema in place.
func migrationsDatabase(_ connection: ConnectionOptions) throws -> PostgresConnection {
    let db = try connection.postgres()
    try Schema.setUp(db)
    return db
}

/// `JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON]`, or GitLab's pasted single-argument form.
struct MigrationConfigurationArguments: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON], or GitLab's form pasted from an error: '[Class,table,column,'[[\"a\"]\\, [\"b\"]]']'",
        valueName: "configuration"))
    var values: [String] = []

    func configuration() throws -> MigrationConfiguration {
        switch values.count {
        case 1:
            return try MigrationConfiguration.parseRakeArgument(values[0])
        case 3, 4:
            var arguments: JSONValue = []
            if values.count == 4 {
                do { arguments = try JSONValue.parse(values[3]) } catch {
                    throw ValidationError("JOB_ARGS_JSON is not valid JSON (\(error)); example: '[[\"id\"], [\"id_convert_to_bigint\"]]'")
                }
            }
            return MigrationConfiguration(jobClassName: values[0], tableName: values[1], columnName: values[2], jobArguments: arguments)
        default:
            throw ValidationError("expected JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON] (or one GitLab-style [Class,table,column,'args'] argument)")
        }
    }
}

struct MigrationsSetup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "setup", abstract: "Create or upgrade the migration tables (idempotent).")
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try connection.postgres()
            let applied = try Schema.setUp(db)
            print(applied.isEmpty ? "schema is up to date (version \(Schema.latestVersion))" : "applied schema version\(applied.count == 1 ? "" : "s") \(applied.map(String.init).joined(separator: ", "))")
        }
    }
}

struct MigrationsQueue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Queue a batched background migration.",
        discussion: """
            Example (int -> bigint copy):
              conveyor migrations queue CopyColumnUsingBackgroundMigrationJob events id \\
                '[["id"], ["id_convert_to_bigint"]]' \\
                --batch-size 10000 --sub-batch-size 1000

            How the table is walked (GitLab's batch_class_name):
              PrimaryKeyBatchingStrategy (default)  batches of rows by an integer
                COLUMN, keys min_value...max_value; a COLUMN that is not an integer
                (uuid, text, timestamptz) is walked as a one-column cursor.
              --cursor partition_id,id  batches of rows in the order of a unique tuple
                of any orderable types, compared as rows ((a, b) > ($1, $2)); COLUMN
                must be its first column and a unique index or primary key must cover
                exactly these columns, in this order. Bounds are kept in min_cursor and
                max_cursor.
              --batch-class LooseIndexScanBatchingStrategy  batches of distinct values
                of a non-unique integer COLUMN (e.g. project_id), found by a loose
                index scan over an index that starts with it.

            The table and columns must exist. Integer walks run from --min-value (1)
            to --max-value (default MAX(column)); cursor walks from the first row to
            the last one when queued. Nothing to migrate: the migration is queued as
            finished. The same configuration cannot be queued twice.
            """)

    @Argument(help: "Job class (e.g. CopyColumnUsingBackgroundMigrationJob).") var jobClass: String
    @Argument(help: "Table to walk.") var table: String
    @Argument(help: "Batching column: an integer key, or the cursor's first column.") var column: String
    @Argument(help: "Job arguments as JSON.") var jobArgumentsJSON: String = "[]"
    @OptionGroup var queue: QueueOptionsArguments
    @Flag(help: "Print the migration as JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let arguments: JSONValue
        do { arguments = try JSONValue.parse(jobArgumentsJSON) } catch {
            throw ValidationError("JOB_ARGS_JSON is not valid JSON (\(error))")
        }
        try reportingErrors {
            let options = try queue.queueOptions()
            let db = try migrationsDatabase(connection)
            let migration = try BatchedMigrationStore(db: db).queue(
                MigrationConfiguration(jobClassName: jobClass, tableName: table, columnName: column, jobArguments: arguments),
                options: options, jobs: CLIRuntime.extensions.batchedJobs, actor: .currentOSUser())
            if json {
                printJSON(try migrationJSON(migration, db: db))
            } else {
                print("queued batched migration \(migration.id): \(migration.jobClassName) on \(migration.tableName), \((try? migration.batching.description) ?? migration.batchClassName), keys \(migration.bounds?.description ?? "none") (\(migration.status.name))")
            }
        }
    }
}

struct MigrationsStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List batched migrations with progress, speed and ETA.")
    @Flag(help: "Only migrations that are not finished.") var unfinished = false
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            var migrations = try BatchedMigrationStore(db: db).list()
            if unfinished { migrations = migrations.filter { !$0.status.isComplete } }
            if json {
                printJSON(.array(try migrations.map { try migrationJSON($0, db: db) }))
                return
            }
            if migrations.isEmpty {
                print(unfinished ? "No unfinished batched background migrations." : "No batched background migrations.")
                return
            }
            var rows = [["ID", "JOB CLASS", "TABLE", "COLUMN", "STATUS", "PROGRESS", "POSITION", "BATCH", "ROWS/S", "ETA"]]
            for migration in migrations {
                let progress = try MigrationProgress.measure(migration, db: db)
                var status = migration.status.name
                if migration.isOnHold { status += " (on hold)" }
                if let throttle = migration.throttle { status += " (throttled: \(throttle.indicator))" }
                let column: String = migration.cursorColumns.map { "(" + $0.joined(separator: ",") + ")" } ?? migration.columnName
                let percent: String = progress.percent.map { String(cFormat: "%.2f%%", $0) } ?? "unknown"
                let rate: String = progress.rowsPerSecond.map { String(Int($0)) } ?? "-"
                let eta = etaText(progress)
                rows.append([
                    String(migration.id), migration.jobClassName, migration.tableName, column, status,
                    percent, positionText(migration, progress), String(migration.batchSize), rate, eta,
                ])
            }
            printTable(rows)
            if let settings = try? MigrationSettings.load(db), !settings.executeOnSchedule {
                print("\nBatched migrations are disabled (conveyor migrations enable to resume).")
            }
        }
    }
}

struct MigrationsShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one migration, its failed jobs and their errors.")
    @Argument(help: "Migration id.") var id: Int64
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let store = BatchedMigrationStore(db: db)
            let migration = try store.require(id)
            let failed = try store.jobs(of: id, status: .failed)
            if json {
                var object = try migrationJSON(migration, db: db).objectValue ?? JSONObject()
                object["failed_jobs"] = .array(try failed.map { job in
                    var entry = job.json.objectValue ?? JSONObject()
                    entry["transition_logs"] = .array(try store.transitionLogs(of: job.id).map(\.json))
                    return .object(entry)
                })
                printJSON(.object(object))
                return
            }
            let progress = try MigrationProgress.measure(migration, db: db)
            let fields: [(String, String)] = [
                ("id", String(migration.id)), ("job class", migration.jobClassName), ("table", migration.tableName),
                ("column", migration.columnName), ("job arguments", migration.jobArguments.serialized()),
                ("status", migration.status.name + (migration.isOnHold ? " (on hold until \(migration.onHoldUntil!))" : "")),
                ("batching", (try? migration.batching.description) ?? migration.batchClassName),
                ("keys", migration.bounds?.description ?? "none"), ("position", positionText(migration, progress)),
                ("batch size", String(migration.batchSize)), ("sub-batch size", String(migration.subBatchSize)),
                ("interval", "\(migration.interval) s"), ("pause", "\(migration.pauseMilliseconds) ms"),
                ("progress", progress.percent.map { String(cFormat: "%.2f%%", $0) } ?? "unknown"),
                ("rows/s", progress.rowsPerSecond.map { String(Int($0)) } ?? "-"), ("ETA", etaText(progress)),
                ("jobs", BatchedJobStatus.allCases.map { "\($0.name) \(progress.jobCounts[$0] ?? 0)" }.joined(separator: ", ")),
                ("created", "\(migration.createdAt)"), ("updated", "\(migration.updatedAt)"),
            ]
            for (name, value) in fields { print("\(name.rightPadded(15)) \(value)") }
            if let throttle = migration.throttle { print("\("throttled".rightPadded(15)) \(throttle)") }
            if !failed.isEmpty {
                print("\nFailed jobs:")
                for job in failed {
                    print("  job \(job.id): keys \(job.range), batch \(job.batchSize), attempts \(job.attempts)")
                    if let last = try store.transitionLogs(of: job.id).last(where: { $0.exceptionClass != nil }) {
                        print("    \(last.exceptionClass ?? ""): \(last.exceptionMessage ?? "")")
                    }
                }
            }
        }
    }
}

struct MigrationIDArgument: ParsableArguments {
    @Argument(help: "Migration id.") var id: Int64
}

struct MigrationsPause: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause an active migration (the batch in flight completes).")
    @OptionGroup var target: MigrationIDArgument
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            let migration = try BatchedMigrationStore(db: migrationsDatabase(connection)).apply(.pause, to: target.id, actor: .currentOSUser())
            print("migration \(migration.id) is \(migration.status.name)")
        }
    }
}

struct MigrationsResume: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a paused migration.")
    @OptionGroup var target: MigrationIDArgument
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            // Only a paused migration resumes: the state machine decides under the row lock.
            let migration = try BatchedMigrationStore(db: try migrationsDatabase(connection)).apply(.resume, to: target.id, actor: .currentOSUser())
            print("migration \(migration.id) is \(migration.status.name)")
        }
    }
}

struct MigrationsRetry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Retry a failed migration: failed jobs are split and retried, the migration is active again.")
    @OptionGroup var target: MigrationIDArgument
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            var runner = BatchedMigrationRunner(db: try migrationsDatabase(connection), jobs: CLIRuntime.extensions.batchedJobs, logger: try connection.logger("conveyor.migrations"))
            runner.actor = .currentOSUser()
            let (migration, jobs) = try runner.retryFailedJobs(target.id)
            print("migration \(migration.id) is \(migration.status.name) again; \(jobs) failed job\(jobs == 1 ? "" : "s") will be retried")
        }
    }
}

struct MigrationsFinalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finalize",
        abstract: "Run what is left of a migration now, in this process, until it is finished.",
        discussion: """
            Resets jobs blocked by their attempts, marks the migration finalizing
            (workers stop picking it), waits for the batch in flight, then runs batches
            until it is finished. Accepts GitLab's pasted form too:
              conveyor migrations finalize \\
                '[CopyColumnUsingBackgroundMigrationJob,events,id,'"'"'[["id"]\\, ["id_convert_to_bigint"]]'"'"']'
            """)
    @OptionGroup var target: MigrationConfigurationArguments
    @Option(help: "Batches to run at once, each on its own connection (ranges never overlap). Default 1; with --downtime 2 on tables of 16 batches or more.")
    var concurrency: Int?
    @OptionGroup var pace: FinalizePaceOptions
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let concurrency, !(1...64).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 64") }
        try pace.check()
    }

    func run() throws {
        let configuration = try target.configuration()
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            var runner = BatchedMigrationRunner(db: db, jobs: CLIRuntime.extensions.batchedJobs, logger: try connection.logger("conveyor.migrations", defaultLevel: .notice))
            runner.actor = .currentOSUser()
            let settings = try MigrationSettings.load(db)
            let started = ContinuousClock.now
            let lanes = try pace.lanes(explicit: concurrency, configuration: configuration, db: db)
            let reporter = FinalizeReporter(db: db, every: pace.progressEvery)
            let final = try runner.finalize(configuration, settings: settings, concurrency: lanes, pace: pace.pace) { progress in
                reporter.report(progress)
            }
            reporter.finish()
            print("migration \(final.id) (\(configuration.jobClassName) on \(configuration.tableName)) is \(final.status.name) after \(formatDuration((ContinuousClock.now - started).seconds)). Done.")
        }
    }
}

struct MigrationsEnsureFinished: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensure-finished",
        abstract: "Exit 0 if the migration is finished, 1 otherwise (with the command to finalize it).",
        discussion: "An upgrade gate, like GitLab's ensure_batched_background_migration_is_finished. --finalize runs it first.")
    @OptionGroup var target: MigrationConfigurationArguments
    @Flag(help: "Finalize the migration first if it is not finished.") var finalize = false
    @Option(help: "With --finalize: batches to run at once.") var concurrency = 1
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let configuration = try target.configuration()
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let store = BatchedMigrationStore(db: db)
            guard var migration = try store.find(configuration) else {
                throw CLIError(message: "Could not find batched background migration for the given configuration: \(configuration)")
            }
            var finalizeError: String?
            if !migration.status.isComplete && finalize {
                var runner = BatchedMigrationRunner(db: db, jobs: CLIRuntime.extensions.batchedJobs, logger: try connection.logger("conveyor.migrations", defaultLevel: .notice))
                runner.actor = .currentOSUser()
                do {
                    _ = try runner.finalize(configuration, settings: try MigrationSettings.load(db), concurrency: max(1, concurrency))
                } catch {
                    finalizeError = String(describing: error)
                }
                migration = try store.require(migration.id)
            }
            if migration.status.isComplete {
                if migration.status == .finished { try store.apply(.confirmFinalize, to: migration.id, actor: .currentOSUser()) }
                print("batched background migration \(migration.id) is finished")
                return
            }
            throw CLIError(message: """
                \(finalizeError.map { "Finalizing failed: \($0)\n\n" } ?? "")Expected batched background migration for the given configuration to be marked as 'finished', but it is '\(migration.status.name)':\t\(configuration)

                Finalize it manually by running the following command in a `bash` or `sh` shell:

                \t\(configuration.finalizeCommand)
                """)
        }
    }
}

struct MigrationsMarkFinished: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark-finished",
        abstract: "Mark a migration finished without running it (all jobs succeeded). Back up first.",
        discussion: "For migrations determined safe to skip, as GitLab documents. Requires --yes.")
    @OptionGroup var target: MigrationIDArgument
    @Flag(help: "Confirm: its remaining batches will never run.") var yes = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let store = BatchedMigrationStore(db: try migrationsDatabase(connection))
            let migration = try store.require(target.id)
            guard yes else {
                throw CLIError(message: "This marks migration \(migration.id) (\(migration.jobClassName) on \(migration.tableName), \(migration.status.name)) finished without running its remaining batches. Make a backup, then re-run with --yes.")
            }
            let (finished, jobs) = try store.markFinished(target.id, actor: .currentOSUser())
            print("migration \(finished.id) marked \(finished.status.name); \(jobs) job\(jobs == 1 ? "" : "s") marked succeeded")
        }
    }
}

struct MigrationsDisable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Global switch off: batches in flight complete, no new ones start.")
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            try MigrationSettings.store("execute_batched_migrations_on_schedule", "false", migrationsDatabase(connection), actor: .currentOSUser(), action: "disable")
            print("batched background migrations disabled (batches in flight complete)")
        }
    }
}

struct MigrationsEnable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Global switch on.")
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            try MigrationSettings.store("execute_batched_migrations_on_schedule", "true", migrationsDatabase(connection), actor: .currentOSUser(), action: "enable")
            print("batched background migrations enabled")
        }
    }
}

struct MigrationsMaxRunning: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "max-running", abstract: "Show or set how many migrations run in parallel (default 2).")
    @Argument(help: "New value.") var value: Int?
    @OptionGroup var connection: ConnectionOptions
    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            if let value {
                do { try MigrationSettings.store("database_max_running_batched_background_migrations", String(value), db, actor: .currentOSUser(), action: "max-running") } catch {
                    throw CLIError(message: String(describing: error))
                }
            }
            print(try MigrationSettings.load(db).maxRunningMigrations)
        }
    }
}

struct MigrationsSettings: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "settings", abstract: "Show settings, or set one: settings NAME VALUE.")
    @Argument(help: "Setting name.") var name: String?
    @Argument(help: "New value.") var value: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            if let name {
                guard let value else { throw ValidationError("give a value: conveyor migrations settings \(name) VALUE") }
                do { try MigrationSettings.store(name, value, db, actor: .currentOSUser()) } catch { throw CLIError(message: String(describing: error)) }
            }
            let settings = try MigrationSettings.load(db)
            if json {
                printJSON(.object(JSONObject(fields: MigrationSettings.definitions.map { .init(key: $0.name, value: .string(settings.value(of: $0))) })))
                return
            }
            printTable([["NAME", "VALUE", "MEANING"]] + MigrationSettings.definitions.map { [$0.name, settings.value(of: $0), $0.summary] })
        }
    }
}

struct MigrationsWait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until every batched migration is finished; exit 1 if one fails.")
    @Option(help: "Seconds between checks.") var interval: Double = 10
    @Option(help: "Give up after this many seconds (default: never).") var timeout: Double?
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let store = BatchedMigrationStore(db: db)
            let deadline = timeout.map { Date().addingTimeInterval($0) }
            while true {
                let unfinished = try store.list().filter { !$0.status.isComplete }
                if unfinished.isEmpty {
                    print("All batched background migrations have finished.")
                    return
                }
                let failed = unfinished.filter { $0.status == .failed }
                if !failed.isEmpty {
                    throw CLIError(message: "Failed batched background migrations:\n" + failed.map { "  \($0.id) \($0.configuration)" }.joined(separator: "\n"))
                }
                print("Still waiting on \(unfinished.count) batched background migration(s): \(unfinished.map { "\($0.id) \($0.jobClassName) (\($0.status.name))" }.joined(separator: ", "))")
                if let deadline, Date() > deadline { throw CLIError(message: "timed out waiting for batched background migrations") }
                blockingSleep(seconds: interval)
            }
        }
    }
}

// MARK: - Output helpers

/// Where the walk stands: the last key batched (a cursor, or the greatest `max_value`).
func positionText(_ migration: BatchedMigration, _ progress: MigrationProgress) -> String {
    if let cursor = migration.lastCursor { return cursor.description }
    if let covered = progress.lastKey { return String(covered) }
    return "-"
}

func migrationJSON(_ migration: BatchedMigration, db: PostgresConnection) throws -> JSONValue {
    migration.json(progress: try MigrationProgress.measure(migration, db: db))
}

func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        print(row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.rightPadded(widths[index])
        }.joined(separator: "  "))
    }
}

func drawProgress(percent: Double, label: String) {
    let width = 30
    let filled = Int(percent / 100 * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    writeToStandardError("\r\u{1B}[K[\(bar)] \(String(cFormat: "%5.1f%%", percent)) \(label)")
}
