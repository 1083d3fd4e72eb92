import ConveyorJSON
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
        try withoutActuallyEscaping(stopRequested) { stopRequested in
            try runBatches(id, settings: settings, stop: stopRequested, now: now)
        }
    }

    /// Looks at the throttle's indicators and stores the throttle when it changed
    /// (engaged, moved, released). Indicators that cannot be read do not throttle.
    func refreshThrottle(_ migration: BatchedMigration, stored: ThrottleState?, probe: ThrottleProbe) -> ThrottleState? {
        let readings = (try? probe.readings(migrationID: migration.id)) ?? []
        let state = Throttle.evaluate(readings, interval: Double(migration.interval))
        if state != stored { storeThrottle(migration.id, state, previous: stored) }
        return state
    }

    func storeThrottle(_ id: Int64, _ state: ThrottleState?, previous: ThrottleState?) {
        let value: JSONValue? = state?.json
        _ = try? db.query("UPDATE batched_background_migrations SET throttle = \(value)::jsonb WHERE id = \(id)")
        if let state, previous == nil {
            logger.warning("batched migration throttled", metadata: ["migration": "\(id)", "reason": .string(state.description)])
        } else if state == nil, previous != nil {
            logger.notice("batched migration throttle released", metadata: ["migration": "\(id)"])
        }
    }

    private func runBatches(_ id: Int64, settings: MigrationSettings, stop stopRequested: @escaping () -> Bool, now: () -> Double) throws -> RunOutcome? {
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
                // Soft limits: a throttled migration waits longer between batches; a job
                // that starts throttled looks again first, so a fallen indicator releases it.
                let probe = ThrottleProbe(db: db, settings: settings)
                var throttle = migration.throttle
                if throttle != nil { throttle = refreshThrottle(migration, stored: throttle, probe: probe) }
                while true {
                    let pause = max(Double(migration.interval), throttle?.pauseSeconds ?? 0)
                    var decision = BatchRunPolicy.next(BatchRunPolicy.State(
                        status: migration.status, onHold: migration.isOnHold, enabled: enabled, stopRequested: stopRequested(),
                        leaseHeld: db.reconnectCount == session, interval: pause,
                        lastBatchCreatedAt: lastCreated?.timeIntervalSince1970, sliceStarted: sliceStarted, now: now()))
                    if throttle != nil {
                        let recheck = now() + Throttle.recheckInterval
                        if case .chain(let at) = decision, at > recheck { decision = .chain(at: recheck) }
                        if decision == .stop, migration.status != .active {
                            storeThrottle(id, nil, previous: throttle)
                            throttle = nil
                        }
                    }
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
                    let (outcome, readBack) = try executor.perform(job, of: migration, walk: walk, started: started, readBack: true, stopRequested: stopRequested)
                    batches += 1
                    if outcome == .interrupted { return RunOutcome(decision: .stop, batches: batches) }
                    let checked = now()
                    let checkHealth = BatchRunPolicy.checkHealth(lastCheckedAt: healthCheckedAt, now: checked)
                    if checkHealth { healthCheckedAt = checked }
                    (current, enabled) = try readBack ?? store.findWithSwitch(id)
                    guard let fresh = current else { return RunOutcome(decision: .stop, batches: batches) }
                    migration = try adjustMigration(id, settings: settings, succeeded: outcome == .succeeded, checkHealth: checkHealth, current: fresh) ?? fresh
                    if checkHealth { throttle = refreshThrottle(migration, stored: throttle, probe: probe) }
                }
            }
        }
    }
}
