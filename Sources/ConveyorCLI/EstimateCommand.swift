import ArgumentParser
import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorPlatform

struct MigrationsEstimate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "How long, how much WAL: sample real batches in rolled-back transactions, before queueing.",
        discussion: """
            estimate JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON] [queue options]
            estimate ID                      (what is left of a queued migration)

            Runs real batches of the job at sampled positions of the key range, in
            GitLab's order (the start, the end, the middle, the quarters, the eighths...),
            each in a transaction that is rolled back, until --budget seconds are used.
            Each is timed as queued (sub-batches; pauses added, not slept) and as one
            statement (--downtime). It prints the rows and batches left, the expected
            time by workers at the migration's pace (interval, pauses, the batch-size
            optimizer), by `finalize` at its own pace and by `finalize --downtime`, each
            with a low-high range, the WAL the migration will write, the slowest sample
            and how close a sub-batch comes to the statement timeout.

            Nothing is stored: no migration or job row is created and the table's data is
            unchanged (WAL is written, as for any rolled-back change; sequences a job
            advances stay advanced). Sampled rows are locked while a sample runs. A job
            that cannot run in a transaction (runsInTransaction = false) is refused.
            """)

    @Argument(help: ArgumentHelp("JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON], or a migration ID.", valueName: "target"))
    var values: [String] = []
    @OptionGroup var queue: QueueOptionsArguments
    @Option(help: "Seconds to spend sampling (at least one batch is sampled).") var budget = MigrationEstimator.defaultBudget
    @Option(help: "Lanes assumed for the --downtime line (default: as finalize --downtime chooses).") var concurrency: Int?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard budget > 0 else { throw ValidationError("--budget must be more than 0 seconds") }
        if let concurrency, !(1...64).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 64") }
        guard values.count == 1 || values.count == 3 || values.count == 4 else {
            throw ValidationError("expected JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON], or the ID of a queued migration")
        }
        if values.count == 1, Int64(values[0]) == nil { throw ValidationError("'\(values[0])' is not a migration ID; give JOB_CLASS TABLE COLUMN [JOB_ARGS_JSON]") }
    }

    func run() throws {
        try reportingErrors {
            let db = try migrationsDatabase(connection)
            let estimator = MigrationEstimator(
                db: db, jobs: CLIRuntime.extensions.batchedJobs, settings: try MigrationSettings.load(db),
                logger: try connection.logger("conveyor.migrations", defaultLevel: .notice))
            let estimate: MigrationEstimate
            if values.count == 1, let id = Int64(values[0]) {
                estimate = try estimator.estimate(migration: try BatchedMigrationStore(db: db).require(id), budget: budget, lanes: concurrency)
            } else {
                var arguments: JSONValue = []
                if values.count == 4 {
                    do { arguments = try JSONValue.parse(values[3]) } catch { throw ValidationError("JOB_ARGS_JSON is not valid JSON (\(error))") }
                }
                estimate = try estimator.estimate(
                    MigrationConfiguration(jobClassName: values[0], tableName: values[1], columnName: values[2], jobArguments: arguments),
                    options: try queue.queueOptions(), budget: budget, lanes: concurrency)
            }
            if json {
                printJSON(estimate.json)
            } else {
                print(Self.text(estimate))
            }
        }
    }

    static func range(_ range: EstimateModel.Range?) -> String {
        guard let range else { return "unknown (no batch could be sampled)" }
        return "\(formatDuration(range.seconds)) (\(formatDuration(range.low)) – \(formatDuration(range.high)))"
    }

    static func text(_ e: MigrationEstimate) -> String {
        let pace = e.pace
        let unit = e.batching.batchClass == .looseIndexScan ? "distinct values" : "rows"
        var lines: [String] = []
        lines.append("Estimate for \(e.configuration.jobClassName) on \(e.configuration.tableName) (\(e.batching))\(e.migrationID.map { ", what is left of migration \($0)" } ?? ""):")
        lines.append("  sampled            \(e.samples.count) batch\(e.samples.count == 1 ? "" : "es") in \(formatDuration(e.elapsed)) (budget \(formatDuration(e.budget))), each rolled back")
        lines.append("  rows               \(group(e.rows)) (\(e.countsExact ? "counted" : "planner's estimate"))\(e.batching.batchClass == .looseIndexScan ? ", \(group(e.keys)) distinct values" : "")")
        lines.append("  batches            \(group(Int64(e.batches))) of \(group(Int64(pace.batchSize))) \(unit) (sub-batch \(group(Int64(pace.subBatchSize))), pause \(pace.pauseMilliseconds) ms, interval \(pace.interval) s)")
        lines.append("  by workers         \(range(e.workers))  at its own pace: interval, pauses, optimizer \(pace.optimize && pace.interval > 0 ? "on" : "off")\(e.workers.map { $0.batches != e.batches ? ", \(group(Int64($0.batches))) batches" : "" } ?? "")")
        lines.append("  finalize           \(range(e.finalize))  its own pace, batches back to back")
        lines.append("  finalize --downtime \(range(e.downtime))  no pauses, sub-batch = batch, batches toward \(formatDuration(DowntimeSizer.defaultTarget)), \(e.downtimeLanes) lane\(e.downtimeLanes == 1 ? "" : "s")\(e.downtime.map { ", \(group(Int64($0.batches))) batches" } ?? "")")
        lines.append("  WAL                \(formatBytes(e.walBytes))")
        if let slowest = e.slowestSample {
            lines.append("  slowest sample     \(slowest.range): \(formatDuration(slowest.seconds)), \(group(Int64(slowest.rows))) rows changed, \(slowest.subBatches) sub-batch\(slowest.subBatches == 1 ? "" : "es"), \(formatBytes(slowest.walBytes)) WAL\(slowest.timedOut != nil ? " (timed out)" : "")")
        }
        lines.append("  sub-batch timeout  risk \(e.timeoutRisk.rawValue): slowest sub-batch \(formatDuration(e.slowestSubBatch)) of \(formatDuration(e.subBatchTimeout))")
        return lines.joined(separator: "\n")
    }
}

/// `1,234,567`.
func group(_ value: Int64) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (value < 0 ? "-" : "") + out
}

func formatBytes(_ bytes: Int64) -> String {
    let value = Double(bytes)
    if value < 1024 { return "\(bytes) B" }
    if value < 1024 * 1024 { return String(cFormat: "%.1f KiB", value / 1024) }
    if value < 1024 * 1024 * 1024 { return String(cFormat: "%.1f MiB", value / 1024 / 1024) }
    return String(cFormat: "%.2f GiB", value / 1024 / 1024 / 1024)
}

/// `5.2 min (4.1 min – 6.8 min)`: the live ETA and its range; `-` when unknown.
func etaText(_ progress: MigrationProgress) -> String {
    guard let eta = progress.etaSeconds else { return "-" }
    guard let low = progress.etaLowSeconds, let high = progress.etaHighSeconds else { return formatDuration(eta) }
    return "\(formatDuration(eta)) (\(formatDuration(low)) – \(formatDuration(high)))"
}
