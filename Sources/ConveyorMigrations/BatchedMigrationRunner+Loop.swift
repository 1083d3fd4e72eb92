import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BatchedMigrationRunner {
    public struct RunOutcome: Sendable, Equatable {
        /// What the caller does next: chain another execution job, or nothing.
        public var decision: BatchRunPolicy.Decision
        public var batches: Int
    }

    /// A worker's execution job: runs batches of migration `id` back to back, under the
    /// table's lease, for as long as `BatchRunPolicy` allows (the interval elapsed, the
    /// migration runnable, the slice not used up). Returns nil when someone else holds the
    /// lease. Per batch it costs the batch's own statements plus two round trips — one finds
    /// the range and creates the job already running, one records the result and reads the
    /// migration and the global switch back — because the walk's position, the statement
    /// timeout and the lease are kept between batches; health indicators are evaluated
    /// once a second.
    public func runBatches(_ id: Int64, settings: MigrationSettings, stopRequested: () -> Bool = { false }, now: () -> Double = { Date().timeIntervalSince1970 }) throws -> RunOutcome? {
        guard let initial = try store.find(id) else { return RunOutcome(decision: .stop, batches: 0) }
        return try withTableLease(initial.tableName) { () throws -> RunOutcome in
            let session = db.reconnectCount
            return try db.withStatementTimeout(.milliseconds(settings.subBatchTimeoutMilliseconds)) { () throws -> RunOutcome in
                // Re-read under the lease: it may have been paused, held or finished meanwhile.
                var (current, enabled) = try store.findWithSwitch(id)
                guard var migration = current else { return RunOutcome(decision: .stop, batches: 0) }
                let strategy = BatchingStrategy(db: db, jobs: jobs)
                let walk = try strategy.walk(for: migration)
                var start = try strategy.nextStart(of: migration, store: store)
                var lastCreated = try store.newestJobCreatedAt(of: id)
                let executor = BatchedJobExecutor(store: store, jobs: jobs, settings: settings, logger: logger)
                let sliceStarted = now()
                var healthCheckedAt: Double?
                var batches = 0
                while true {
                    let decision = BatchRunPolicy.next(BatchRunPolicy.State(
                        status: migration.status, onHold: migration.isOnHold, enabled: enabled, stopRequested: stopRequested(),
                        leaseHeld: db.reconnectCount == session, interval: Double(migration.interval),
                        lastBatchCreatedAt: lastCreated?.timeIntervalSince1970, sliceStarted: sliceStarted, now: now()))
                    guard decision == .runBatch else { return RunOutcome(decision: decision, batches: batches) }
                    let job: BatchedJob
                    var started = false
                    if let from = start, let bounds = migration.bounds,
                        let query = try walk.nextBatchQuery(from: from, size: migration.batchSize, limit: bounds.last),
                        let created = try store.createNextRunningJob(for: migration, batch: query)
                    {
                        job = created
                        start = .after(created.range.last)
                        started = true
                    } else if let retriable = try store.retriableJob(of: id, interruptedAreAbandoned: true) {
                        start = nil  // the walk is done; only retries are left
                        job = retriable
                    } else {
                        _ = try finishIfDone(migration)
                        return RunOutcome(decision: .stop, batches: batches)
                    }
                    lastCreated = started ? job.createdAt : Date()
                    let (outcome, readBack) = try executor.perform(job, of: migration, walk: walk, started: started, readBack: true)
                    batches += 1
                    let checked = now()
                    let checkHealth = BatchRunPolicy.checkHealth(lastCheckedAt: healthCheckedAt, now: checked)
                    if checkHealth { healthCheckedAt = checked }
                    (current, enabled) = try readBack ?? store.findWithSwitch(id)
                    guard let fresh = current else { return RunOutcome(decision: .stop, batches: batches) }
                    migration = try adjustMigration(id, settings: settings, succeeded: outcome == .succeeded, checkHealth: checkHealth, current: fresh) ?? fresh
                }
            }
        }
    }
}
