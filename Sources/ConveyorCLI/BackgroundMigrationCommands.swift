import ArgumentParser
import ConveyorJSON
import ConveyorMigrations
import ConveyorPlatform
import ConveyorPostgres
import ConveyorQueue

struct RemainingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remaining",
        abstract: "Count pending non-batched background migrations (GitLab's BackgroundMigration.remaining).",
        discussion: """
            Counts BackgroundMigrationWorker jobs in the background_migration queue plus
            the scheduled set, for one migration class or all. --json adds the retry and
            dead sets and the tracked pending rows in background_migration_jobs.
            """)

    @Argument(help: "Only count jobs of this migration class.")
    var migrationClass: String?

    @Flag(help: "Print a JSON breakdown.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let coordinator = try connection.coordinator("conveyor.remaining")
            let remaining = try coordinator.remaining(migrationClass)
            guard json else {
                print(remaining.total)
                return
            }
            var tracked: JSONValue = nil
            if ProcessEnvironment["DATABASE_URL"] != nil || ProcessEnvironment["PGHOST"] != nil,
                let db = try? connection.postgres(), (try? Schema.currentVersion(db)) ?? 0 > 0
            {
                tracked = JSONValue(try BackgroundMigrationTracking.pendingCount(className: migrationClass, db))
            }
            printJSON([
                "class": migrationClass.map { .string($0) } ?? nil, "remaining": JSONValue(remaining.total),
                "queued": JSONValue(remaining.queued), "scheduled": JSONValue(remaining.scheduled),
                "retry": JSONValue(remaining.retrying), "dead": JSONValue(remaining.dead), "tracked_pending": tracked,
            ])
        }
    }
}

struct StealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steal",
        abstract: "Run queued non-batched background migrations now, in this process.",
        discussion: """
            Takes BackgroundMigrationWorker jobs (of MIGRATION_CLASS, or all) from the
            scheduled set, then the background_migration queue, and runs each inline -
            GitLab's BackgroundMigration.steal. Safe while workers run: a job runs here
            only if this command removed it from Redis, so it never runs twice.

            If a job fails, it is put back in the queue, steal stops, prints the cause
            and exits 1. With --retry-dead-jobs the retry and dead sets are drained too.
            """)

    @Argument(help: "Only steal jobs of this migration class.")
    var migrationClass: String?

    @Flag(help: "Also take jobs from the retry and dead sets.")
    var retryDeadJobs = false

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let coordinator = try connection.coordinator("conveyor.steal")
            let interactive = stderrIsTerminal && !json
            var lastPrint = ContinuousClock.now
            do {
                let summary = try coordinator.steal(migrationClass, retryDeadJobs: retryDeadJobs) { progress in
                    guard interactive, ContinuousClock.now - lastPrint > .milliseconds(200) else { return }
                    lastPrint = .now
                    writeToStandardError("\r\u{1B}[Kstealing: \(progress.performed) jobs run")
                }
                if interactive { writeToStandardError("\r\u{1B}[K") }
                if json {
                    printJSON(["performed": JSONValue(summary.performed), "seconds": JSONValue(summary.seconds),
                               "by_class": .object(JSONObject(fields: summary.byClass.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: JSONValue($0.value)) }))])
                } else {
                    let classes = summary.byClass.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                    print("stole and ran \(summary.performed) job\(summary.performed == 1 ? "" : "s") in \(formatDuration(summary.seconds))\(classes.isEmpty ? "" : " (\(classes))")")
                }
            } catch let failure as BackgroundMigrationCoordinator.StealFailure {
                if interactive { writeToStandardError("\r\u{1B}[K") }
                throw CLIError(message: "steal stopped after \(failure.summary.performed) job(s): \(failure.description)")
            }
        }
    }
}

struct PendingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pending",
        abstract: "Count (or run) tracked non-batched migrations stuck in 'pending'.",
        discussion: """
            Reads background_migration_jobs rows with status pending (0). With --run,
            performs each inline and marks it succeeded, as the reference page's "stuck
            in pending" procedure does; stops at the first failure.
            """)

    @Argument(help: "Only rows of this migration class.")
    var migrationClass: String?

    @Flag(name: .customLong("run"), help: "Perform each pending job now.")
    var perform = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let db = try connection.postgres()
            try Schema.setUp(db)
            guard perform else {
                let count = try BackgroundMigrationTracking.pendingCount(className: migrationClass, db)
                if json { printJSON(["pending": JSONValue(count)]) } else { print(count) }
                return
            }
            let coordinator = try connection.coordinator("conveyor.pending", database: { db })
            let done = try coordinator.runPending(migrationClass) { row, error in
                guard !json else { return }
                print("Running pending job '\(row.className)' with arguments \(JSONValue.array(row.arguments))")
                print("Result: \(error.map { "failed: \($0)" } ?? "succeeded")")
            }
            if json { printJSON(["performed": JSONValue(done)]) } else { print("\(done) pending job\(done == 1 ? "" : "s") performed") }
        }
    }
}

struct EnqueueRangeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue-range",
        abstract: "Schedule a non-batched migration over a table's key range, one job per batch.",
        discussion: """
            GitLab's queue_background_migration_jobs_by_range_at_intervals: walks
            TABLE's primary key (or --column) in batches of --batch-size rows and
            schedules one BackgroundMigrationWorker job per batch, the n-th at
            --initial-delay + n x --delay seconds. Each job gets [start_id, end_id] plus
            ARGS_JSON (CopyColumn takes the range last: [table, from, to, start_id,
            end_id]). --track records each job as a pending row in
            background_migration_jobs.

            Example:
              conveyor enqueue-range CopyColumn events '["events","id","id_big"]' \\
                --batch-size 10000 --delay 120 --track
            """)

    @Argument(help: "The migration class (e.g. CopyColumn).")
    var migrationClass: String

    @Argument(help: "The table to walk.")
    var table: String

    @Argument(help: "Other job arguments as a JSON array.")
    var argsJSON: String = "[]"

    @Option(help: "Rows per job.")
    var batchSize = 1000

    @Option(help: "Seconds between jobs.")
    var delay: Double = 120

    @Option(help: "Seconds before the first interval.")
    var initialDelay: Double = 0

    @Option(help: "The key column to walk (default: the primary key).")
    var column: String?

    @Flag(help: "Record each job in background_migration_jobs as pending.")
    var track = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard delay >= 0, initialDelay >= 0 else { throw ValidationError("--delay and --initial-delay must be ≥ 0") }
    }

    func run() throws {
        let other = try parseJSONArray(argsJSON, what: "ARGS_JSON")
        try reportingErrors {
            let coordinator = try connection.coordinator("conveyor.enqueue-range")
            let schedule = try coordinator.enqueueRange(
                migration: migrationClass, table: table, column: column, otherArguments: other, batchSize: batchSize,
                delay: delay, initialDelay: initialDelay, track: track)
            if json {
                printJSON(["jobs": JSONValue(schedule.jobs), "last_delay": JSONValue(schedule.lastDelay), "tracked": .bool(track)])
            } else {
                print("Scheduled \(schedule.jobs) \(migrationClass) jobs with a maximum of \(batchSize) records per batch and an interval of \(Int(delay)) seconds.")
                print("The migration is expected to take at least \(Int(schedule.lastDelay)) seconds.")
            }
        }
    }
}

extension ConnectionOptions {
    /// The non-batched migration coordinator on this command's connections.
    func coordinator(_ label: String, database: (() throws -> PostgresConnection)? = nil) throws -> BackgroundMigrationCoordinator {
        BackgroundMigrationCoordinator(
            redis: try redis(), registry: CLIRuntime.extensions.backgroundMigrations, logger: try logger(label),
            database: database ?? { try postgres() })
    }
}
