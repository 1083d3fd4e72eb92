import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres
import ConveyorQueue
import Logging

/// Runs one batch (GitLab's `BatchedMigrationWrapper`): marks it running, performs the job
/// class on the batch, records success or the failure (with its exception in the
/// transition log), then applies GitLab's timeout rules: shrink the sub-batch while
/// attempts remain, split the batch after the last one.
struct BatchedJobExecutor {
    let store: BatchedMigrationStore
    let jobs: BatchedJobRegistry
    let settings: MigrationSettings
    let logger: Logger

    enum Outcome: Equatable {
        case succeeded
        case failed(exceptionClass: String, message: String)
        /// Stopped by a worker shutdown: back to pending, the attempt not counted.
        case interrupted
    }

    /// Runs `job` (created `running` by the caller when `started`, so that transition
    /// is already logged), with the migration's walk (built here when nil).
    func perform(_ job: BatchedJob, of migration: BatchedMigration, walk prepared: (any BatchWalk)? = nil, started: Bool = false) throws -> Outcome {
        try perform(job, of: migration, walk: prepared, started: started, readBack: false).outcome
    }

    /// `perform`, and with `readBack` the migration and the global switch as they are
    /// after a success, read by the statement that records it (nil after a failure).
    func perform(_ job: BatchedJob, of migration: BatchedMigration, walk prepared: (any BatchWalk)?, started: Bool, readBack: Bool, stopRequested: (() -> Bool)? = nil) throws -> (outcome: Outcome, current: (BatchedMigration?, Bool)?) {
        let running = started ? job : try store.transition(job, to: .running)
        let db = store.db
        var context: BatchedJobContext?
        var failure: (any Error)?
        let began = ContinuousClock.now
        do {
            guard let entry = jobs.entry(migration.jobClassName) else {
                throw JobError.uninitializedConstant(migration.jobClassName, "no batched migration job '\(migration.jobClassName)' is registered")
            }
            let batching = try migration.batching
            let walk = try prepared ?? BatchingStrategy(db: db, jobs: jobs).walk(for: migration)
            let batch = BatchedJobContext(
                db: db, walk: walk, batching: batching, column: try db.resolveColumn(batching.column, in: walk.table), job: running,
                arguments: migration.jobArguments, statementTimeout: .milliseconds(settings.subBatchTimeoutMilliseconds), logger: logger)
            if let stopRequested { batch.stopRequested = stopRequested }
            context = batch
            // One statement_timeout for the whole batch: its sub-batches then cost no extra
            // round trips to set it.
            try db.withStatementTimeout(.milliseconds(settings.subBatchTimeoutMilliseconds)) { try entry.perform(batch) }
        } catch {
            failure = error
        }
        let elapsed = (ContinuousClock.now - began).seconds
        var metrics = JSONObject()
        metrics["rows"] = JSONValue(context?.rowsTouched ?? 0)
        metrics["sub_batches"] = JSONValue(context?.timings.count ?? 0)
        metrics["timings"] = ["update_all": .array((context?.timings ?? []).map { JSONValue($0) })]
        metrics["seconds"] = JSONValue(elapsed)
        guard let failure else {
            var current: (BatchedMigration?, Bool)?
            if readBack {
                current = try recordWithReconnect { try store.recordSuccess(running, metrics: .object(metrics)) }
            } else {
                _ = try recordWithReconnect { try store.transition(running, to: .succeeded, metrics: .object(metrics)) }
            }
            logger.info("batch succeeded", metadata: [
                "migration": "\(migration.id)", "job": "\(job.id)", "range": "\(job.range)",
                "rows": "\(context?.rowsTouched ?? 0)", "seconds": "\(String(cFormat: "%.3f", elapsed))",
            ])
            return (.succeeded, current)
        }
        if failure is WorkerShutdown {
            _ = try recordWithReconnect { try store.releaseInterrupted(running, metrics: .object(metrics)) }
            logger.notice("batch interrupted by shutdown; it will run again (the attempt is not counted)", metadata: [
                "migration": "\(migration.id)", "job": "\(job.id)", "range": "\(job.range)",
            ])
            return (.interrupted, nil)
        }
        let (exceptionClass, message, timedOut, fromSubBatch) = Self.describe(failure)
        let failed = try recordWithReconnect {
            try store.transition(running, to: .failed, metrics: .object(metrics), exceptionClass: exceptionClass, exceptionMessage: message)
        }
        logger.warning("batch failed", metadata: [
            "migration": "\(migration.id)", "job": "\(job.id)", "range": "\(job.range)",
            "attempt": "\(failed.attempts)", "error_class": .string(exceptionClass), "error": .string(message),
        ])
        if fromSubBatch, failed.canReduceSubBatchSize, let smaller = failed.reducedSubBatchSize(migrationSubBatchSize: migration.subBatchSize), smaller != failed.subBatchSize {
            try store.setSubBatchSize(failed, smaller)
            logger.warning("Sub batch size reduced due to timeout", metadata: ["job": "\(job.id)", "sub_batch_size": "\(smaller)"])
        }
        if failed.canSplit(afterTimeout: timedOut) {
            let second = try store.splitAndRetry(failed, migration: migration, jobs: jobs)
            logger.warning("batch split after repeated timeouts", metadata: ["job": "\(job.id)", "new_job": "\(second.map { String($0.id) } ?? "none")"])
        }
        return (.failed(exceptionClass: exceptionClass, message: message), nil)
    }

    /// Recording a result must survive a database restart mid-batch: the next query
    /// reconnects (with backoff), so retry once after a connection failure.
    private func recordWithReconnect<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.isConnectionProblem {
            return try body()
        }
    }

    /// Exception class and message for the transition log, in GitLab's spirit
    /// (`PG::QueryCanceled`, ...), and whether it was a timeout from a sub-batch.
    static func describe(_ error: any Error) -> (String, String, Bool, Bool) {
        if let timeout = error as? SubBatchTimeout {
            let (name, message, _, _) = describe(timeout.underlying)
            return (name, message, true, true)
        }
        if let pg = error as? PostgresError {
            let name: String
            switch pg.sqlState {
            case "57014": name = "PG::QueryCanceled"
            case "55P03": name = "PG::LockNotAvailable"
            case "23505": name = "PG::UniqueViolation"
            case "23502": name = "PG::NotNullViolation"
            case "P0001": name = "PG::RaiseException"
            case "22003": name = "PG::NumericValueOutOfRange"
            case "40P01": name = "PG::TRDeadlockDetected"
            case "42P01": name = "PG::UndefinedTable"
            case "42703": name = "PG::UndefinedColumn"
            case let state? where state.hasPrefix("08") || state.hasPrefix("57P"): name = "PG::ConnectionBad"
            default: name = pg.code == .server ? "PG::Error" : (pg.isConnectionProblem ? "PG::ConnectionBad" : "PostgresError")
            }
            return (name, pg.description, pg.isTimeout, false)
        }
        if let job = error as? JobError { return (job.errorClass, job.message, false, false) }
        if let migration = error as? MigrationError { return ("Conveyor::\(migration.code.rawValue)", migration.message, false, false) }
        return (String(describing: type(of: error)), String(describing: error), false, false)
    }
}
