import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorPlatform
import Logging

/// Drives batched migrations (GitLab's `BatchedMigrationRunner`): one batch at a time
/// under the table's lease, then health checks and batch-size tuning; `finalize` runs what
/// is left synchronously.
public struct BatchedMigrationRunner {
    public let store: BatchedMigrationStore
    public let jobs: BatchedJobRegistry
    public let logger: Logger
    /// Who runs operator actions through this runner (finalize, retry), for the audit trail.
    public var actor: OperatorActor?

    public init(db: PostgresConnection, jobs: BatchedJobRegistry, logger: Logger) {
        store = BatchedMigrationStore(db: db)
        self.jobs = jobs
        self.logger = logger
    }

    var db: PostgresConnection { store.db }

    public enum StepResult: Equatable, Sendable {
        case ranBatch(jobID: Int64, succeeded: Bool)
        case finished
        case failed
        /// Jobs are still pending or running elsewhere; nothing to do now.
        case waiting
        /// Another process holds the table's lease.
        case locked
    }

    // MARK: - The table lease

    /// A session advisory lock per table: only its holder creates or runs batches of any
    /// migration on that table, so two processes never run overlapping ranges. It is
    /// released when the session ends, so a crashed worker never leaves it behind.
    /// Keyed by the schema-qualified name, so same-named tables in other schemas do not
    /// share a lease.
    func leaseKey(_ table: String) throws -> String {
        "conveyor:batched_migration:" + (try db.resolveTable(table)).description
    }

    func tryLockTable(_ table: String) throws -> Bool {
        try db.query("SELECT pg_try_advisory_lock(hashtextextended(\(try leaseKey(table)), 0)) AS locked").first?["locked"].bool() ?? false
    }

    func unlockTable(_ table: String) {
        guard let key = try? leaseKey(table) else { return }
        _ = try? db.query("SELECT pg_advisory_unlock(hashtextextended(\(key), 0))")
    }

    /// Runs `body` holding the table's lease, or returns nil when someone else holds it.
    public func withTableLease<T>(_ table: String, _ body: () throws -> T) throws -> T? {
        guard try tryLockTable(table) else { return nil }
        defer { unlockTable(table) }
        return try body()
    }

    // MARK: - One step

    /// GitLab's `run_migration_job`, for a migration whose table lease is held: run the
    /// next batch (or a retriable one); with none left, finish or fail the migration.
    public func runStep(_ migration: BatchedMigration, settings: MigrationSettings, adjust: Bool = true) throws -> StepResult {
        let job: BatchedJob
        var started = false
        if let next = try nextBatchRange(migration) {
            job = try store.createJob(for: migration, range: next, running: true)
            started = true
        } else if let retriable = try store.retriableJob(of: migration.id, interruptedAreAbandoned: true) {
            job = retriable
        } else {
            return try finishIfDone(migration)
        }
        let executor = BatchedJobExecutor(store: store, jobs: jobs, settings: settings, logger: logger)
        let outcome = try executor.perform(job, of: migration, started: started)
        if adjust { try adjustMigration(migration.id, settings: settings, succeeded: outcome == .succeeded) }
        return .ranBatch(jobID: job.id, succeeded: outcome == .succeeded)
    }

    /// The next batch after the last one (or from the start of the walk), or nil when the
    /// table has been walked to its end.
    func nextBatchRange(_ migration: BatchedMigration) throws -> BatchRange? {
        try BatchingStrategy(db: db, jobs: jobs).nextBatch(of: migration, store: store)
    }

    /// With no batch left to run: finished when every job succeeded, failed when one
    /// stayed failed after its attempts.
    func finishIfDone(_ migration: BatchedMigration) throws -> StepResult {
        let counts = try store.jobCounts(of: migration.id)
        if (counts[.pending] ?? 0) + (counts[.running] ?? 0) > 0 { return .waiting }
        if (counts[.failed] ?? 0) > 0 {
            try store.apply(.failure, to: migration.id)
            logger.error("batched migration failed", metadata: ["migration": "\(migration.id)", "failed_jobs": "\(counts[.failed] ?? 0)"])
            return .failed
        }
        try store.apply(.finish, to: migration.id)
        logger.notice("batched migration finished", metadata: ["migration": "\(migration.id)", "class": .string(migration.jobClassName), "table": .string(migration.tableName)])
        return .finished
    }

    /// After a batch: hold on a health signal, otherwise tune the batch size; stop a
    /// migration where most recent batches fail (GitLab's `should_stop?`). Returns the
    /// migration as it is now. `checkHealth: false` skips the health indicators (a run of
    /// back-to-back batches evaluates them once a second, not after every batch).
    @discardableResult
    func adjustMigration(_ id: Int64, settings: MigrationSettings, succeeded: Bool, checkHealth: Bool = true, current: BatchedMigration? = nil) throws -> BatchedMigration? {
        guard let migration = try current ?? store.find(id), migration.status == .active else { return current }
        if checkHealth {
            let stops = HealthCheck.evaluate(migration, settings: settings, db: db).filter { $0.kind == .stop }
            if !stops.isEmpty {
                let until = Date().addingTimeInterval(Double(settings.holdSeconds))
                try store.hold(id, until: until)
                logger.warning("\(migration.label) put on hold until \(until)", metadata: ["reason": .string(stops.map(\.description).joined(separator: "; "))])
                return try store.find(id)
            }
        }
        // With no interval there is no efficiency to aim at (GitLab's optimizer divides by it).
        if succeeded, settings.optimize, migration.interval > 0 {
            let durations = try store.recentDurations(of: id, limit: BatchOptimizer.numberOfJobs)
            let efficiency = BatchOptimizer.smoothedEfficiency(durationsNewestFirst: durations, interval: Double(migration.interval))
            if let size = BatchOptimizer.optimizedBatchSize(current: migration.batchSize, maxBatchSize: migration.maxBatchSize, efficiency: efficiency) {
                // Only if no operator changed it meanwhile (`migrations update` wins).
                guard try store.setBatchSize(id, size, from: migration.batchSize) else { return try store.find(id) }
                logger.info("batch size optimized", metadata: ["migration": "\(id)", "from": "\(migration.batchSize)", "to": "\(size)", "efficiency": "\(efficiency ?? 0)"])
                var resized = migration
                resized.batchSize = size
                return resized
            }
        }
        if !succeeded, try shouldStop(migration) {
            try store.apply(.failure, to: id)
            logger.error("batched migration stopped: more than half of its recent batches failed", metadata: ["migration": "\(id)"])
            return try store.find(id)
        }
        return migration
    }

    /// At least 50 jobs since it (re)started and more than half of them failed.
    func shouldStop(_ migration: BatchedMigration) throws -> Bool {
        guard let started = migration.startedAt else { return false }
        let row = try db.query(
            """
            SELECT count(*) AS total, count(*) FILTER (WHERE status = \(BatchedJobStatus.failed.rawValue)) AS failed
            FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(migration.id) AND created_at >= \(started)
            """).first
        let total = try row?["total"].int() ?? 0, failed = try row?["failed"].int() ?? 0
        return total >= 50 && Double(failed) / Double(total) > 0.5
    }

    // MARK: - Finalize

    public struct FinalizeProgress: Sendable {
        public var batches = 0
        public var failedBatches = 0
        public var migration: BatchedMigration
    }

    /// Runs everything left of a migration now (GitLab's `finalize`): resets jobs blocked by
    /// their attempts, marks it `finalizing` so workers leave it alone, waits for the batch
    /// in flight, then runs batches until it is finished or failed.
    /// `concurrency` batches run at once, each lane on a connection of its own (ranges stay
    /// disjoint: one coordinator creates them, under the table's lease); with the default of
    /// one, batches run one after the other while the next one's bookkeeping overlaps.
    @discardableResult
    public func finalize(_ configuration: MigrationConfiguration, settings: MigrationSettings, concurrency: Int = 1, pace: FinalizePace = .own, progress: ((FinalizeProgress) -> Void)? = nil) throws -> BatchedMigration {
        guard let migration = try store.find(configuration) else {
            throw MigrationError(.notFound, "Could not find batched background migration for the given configuration: \(configuration)")
        }
        if migration.status.isComplete {
            logger.notice("Batched background migration for the given configuration is already finished: \(configuration)")
            return migration
        }
        try store.resetAttemptsOfBlockedJobs(migration.id)
        try store.apply(.finalize, to: migration.id, actor: actor)
        var report = FinalizeProgress(migration: migration)
        // Wait for the batch in flight (a worker holding the table's lease), then keep the
        // lease for the whole run.
        var waited = false
        while try !tryLockTable(migration.tableName) {
            if !waited { logger.notice("waiting for the batch in flight on \(migration.tableName) to finish") }
            waited = true
            blockingSleep(seconds: 0.1)
        }
        defer { unlockTable(migration.tableName) }
        try ParallelFinalizer(runner: self, migrationID: migration.id, settings: settings, concurrency: max(1, concurrency), pace: pace)
            .run { batches, failed, current in
                report.batches = batches
                report.failedBatches = failed
                report.migration = current
                progress?(report)
            }
        return try finalizeOutcome(migration)
    }

    func finalizeOutcome(_ migration: BatchedMigration) throws -> BatchedMigration {
        let final = try store.require(migration.id)
        if final.status == .failed {
            throw MigrationError(
                .failedToFinalize,
                "Batched migration \(migration.jobClassName) could not be completed and a manual action is required. Check `conveyor migrations show \(migration.id)` or the admin page (/admin/background_migrations) for the failed jobs.")
        }
        return final
    }

    // MARK: - Operator actions

    /// GitLab's `retry_failed_jobs!`: every failed job is split (or halved) with its
    /// attempts reset, and the migration becomes active again — refused unless it is
    /// failed, decided and done under the migration's row lock in one transaction.
    public func retryFailedJobs(_ id: Int64) throws -> (BatchedMigration, Int) {
        do {
            return try store.retry(id, actor: actor, jobs: jobs)
        } catch let refused as BatchedMigrationStatus.InvalidTransition {
            throw MigrationError(.invalidState, "You can retry only failed background migrations (migration \(id) is \(refused.from.name)).")
        }
    }
}
