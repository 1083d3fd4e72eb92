import ArgumentParser
import ConveyorMigrations
import ConveyorPostgres
import ConveyorPlatform

/// `finalize`'s pace for this run only (never stored on the migration).
struct FinalizePaceOptions: ParsableArguments {
    @Option(name: .customLong("pause-ms"), help: "Milliseconds between sub-batches for this run (default: the migration's).")
    var pauseMilliseconds: Int?
    @Option(help: "Rows per sub-batch statement for this run (default: the migration's; at most its batch size).")
    var subBatchSize: Int?
    @Flag(help: ArgumentHelp(
        "Run at the database's speed, for a deployment with downtime: no pauses, one statement per batch, batches grown toward \(formatDuration(DowntimeSizer.defaultTarget)) each, lanes as the table allows."))
    var downtime = false
    @Option(help: ArgumentHelp("Seconds between progress lines when stderr is not a terminal.", valueName: "seconds"))
    var progressEvery = 5.0

    func check() throws {
        if let pauseMilliseconds, pauseMilliseconds < 0 { throw ValidationError("--pause-ms must be ≥ 0") }
        if let subBatchSize, subBatchSize < 1 { throw ValidationError("--sub-batch-size must be at least 1") }
        if downtime, pauseMilliseconds != nil || subBatchSize != nil {
            throw ValidationError("--downtime runs without pauses and with sub-batch = batch; leave out --pause-ms and --sub-batch-size")
        }
        guard progressEvery > 0 else { throw ValidationError("--progress-every must be more than 0 seconds") }
    }

    var pace: FinalizePace {
        FinalizePace(pauseMilliseconds: pauseMilliseconds, subBatchSize: subBatchSize, downtime: downtime)
    }

    /// `--concurrency`, or with `--downtime` as many lanes as the table allows.
    func lanes(explicit: Int?, configuration: MigrationConfiguration, db: PostgresConnection) throws -> Int {
        guard downtime else { return explicit ?? 1 }
        let migration = try BatchedMigrationStore(db: db).find(configuration)
        return FinalizePace.downtimeLanes(explicit: explicit, remainingKeys: migration?.totalTupleCount, batchSize: migration?.batchSize ?? 1000)
    }
}

/// Progress of a `finalize` run: a bar redrawn on a terminal, else one line every few
/// seconds on stderr (percent, batches, rows, rate and the ETA with its range).
final class FinalizeReporter {
    let db: PostgresConnection
    let every: Double
    let terminal = stderrIsTerminal
    var last = ContinuousClock.now

    init(db: PostgresConnection, every: Double) {
        self.db = db
        self.every = every
        if terminal { last = .now - .seconds(1) }
    }

    func report(_ progress: BatchedMigrationRunner.FinalizeProgress) {
        let now = ContinuousClock.now
        let label = "\(progress.batches) batches\(progress.failedBatches > 0 ? ", \(progress.failedBatches) failed" : "")"
        if terminal {
            guard now - last > .milliseconds(200) else { return }
            last = now
            let measured = try? MigrationProgress.measure(progress.migration, db: db)
            drawProgress(percent: measured?.percent ?? 0, label: label)
            return
        }
        guard (now - last).seconds >= every else { return }
        last = now
        guard let measured = try? MigrationProgress.measure(progress.migration, db: db) else { return }
        let percent = measured.percent.map { String(cFormat: "%.1f%%", $0) } ?? "?%"
        let rate = measured.rowsPerSecond.map { "\(group(Int64($0))) rows/s" } ?? "- rows/s"
        writeToStandardError("finalize \(progress.migration.id): \(percent), \(label), \(group(measured.migratedRows)) rows, \(rate), ETA \(etaText(measured))\n")
    }

    func finish() {
        if terminal { writeToStandardError("\r\u{1B}[K") }
    }
}
