import ConveyorPlatform
import ConveyorPostgres
import Logging

/// Runs a finalizing migration's batches `concurrency` at a time. The caller holds the
/// table's lease; this coordinator alone creates batches (so ranges never overlap) and
/// hands them to lanes, each with its own PostgreSQL connection. One batch more than there
/// are lanes is kept prepared, so the bookkeeping of the next batch (finding its range,
/// inserting its job row) overlaps the running batch's UPDATE instead of following it: with
/// one lane, batches still run strictly one after the other.
struct ParallelFinalizer {
    let runner: BatchedMigrationRunner
    let migrationID: Int64
    let settings: MigrationSettings
    let concurrency: Int
    /// This run's pace (`--pause-ms`, `--sub-batch-size`, `--downtime`), applied to the
    /// batches it creates; the migration's row is left as it is.
    var pace: FinalizePace = .own

    /// Shared between the coordinator and the lanes, under its condition's lock.
    final class Board: @unchecked Sendable {
        let condition = ConditionLock()
        var waiting: [(BatchedJob, BatchedMigration)] = []
        var inFlight: Set<Int64> = []
        var finished: [(jobID: Int64, succeeded: Bool, seconds: Double, keys: Int)] = []
        var failure: (any Error)?
        var closed = false
    }

    func run(progress: (Int, Int, BatchedMigration) -> Void) throws {
        let board = Board()
        let store = runner.store
        let configuration = runner.db.configuration
        let jobs = runner.jobs, logger = runner.logger, settings = self.settings
        for lane in 0..<concurrency {
            try DetachedThread.start(name: "finalize-\(lane)") {
                var connection: PostgresConnection?
                while true {
                    board.condition.lock()
                    while board.waiting.isEmpty && !board.closed { board.condition.wait() }
                    if board.closed && board.waiting.isEmpty {
                        board.condition.unlock()
                        return
                    }
                    let (job, migration) = board.waiting.removeFirst()
                    board.condition.unlock()
                    var succeeded = false
                    var error: (any Error)?
                    let began = ContinuousClock.now
                    do {
                        if connection == nil {
                            let fresh = try PostgresConnection(configuration)
                            // A lane's connection runs only batches: the sub-batch timeout
                            // stays set for the session instead of being set and restored
                            // around every batch (two round trips each).
                            try fresh.setStatementTimeout(.milliseconds(settings.subBatchTimeoutMilliseconds))
                            connection = fresh
                        }
                        let executor = BatchedJobExecutor(store: BatchedMigrationStore(db: connection!), jobs: jobs, settings: settings, logger: logger)
                        succeeded = try executor.perform(job, of: migration) == .succeeded
                    } catch let thrown {
                        error = thrown
                    }
                    board.condition.lock()
                    board.inFlight.remove(job.id)
                    board.finished.append((job.id, succeeded, (ContinuousClock.now - began).seconds, job.batchSize))
                    if let error, board.failure == nil { board.failure = error }
                    board.condition.broadcast()
                    board.condition.unlock()
                }
            }
        }
        defer {
            board.condition.lock()
            board.closed = true
            board.condition.broadcast()
            board.condition.unlock()
            // Wait for lanes to finish their current batch before the lease is released.
            board.condition.lock()
            while !board.inFlight.isEmpty { board.condition.wait(timeout: .milliseconds(100)) }
            board.condition.unlock()
        }

        var batches = 0, failed = 0
        var pace = self.pace
        let timeout = Double(settings.subBatchTimeoutMilliseconds) / 1000
        while true {
            board.condition.lock()
            for result in board.finished {
                batches += 1
                if !result.succeeded { failed += 1 }
                pace.record(keys: result.keys, seconds: result.seconds, succeeded: result.succeeded)
            }
            let hadResults = !board.finished.isEmpty
            board.finished.removeAll()
            if let failure = board.failure {
                board.condition.unlock()
                throw failure
            }
            let busy = board.inFlight.count
            let excluded = Array(board.inFlight)
            board.condition.unlock()

            guard let current = try store.find(migrationID), current.status == .finalizing else { return }
            if hadResults { progress(batches, failed, current) }
            let migration = pace.apply(to: current, statementTimeout: timeout)
            if busy < concurrency + 1 {
                var next: BatchedJob?
                if let range = try runner.nextBatchRange(migration) {
                    next = try store.createJob(for: migration, range: range)
                } else {
                    next = try store.retriableJob(of: migrationID, interruptedAreAbandoned: true, excluding: excluded)
                }
                if let next {
                    board.condition.lock()
                    board.inFlight.insert(next.id)
                    board.waiting.append((next, migration))
                    board.condition.broadcast()
                    board.condition.unlock()
                    continue
                }
                if busy == 0 {
                    let result = try runner.finishIfDone(migration)
                    if result != .waiting { return }
                }
            }
            board.condition.lock()
            if board.finished.isEmpty && board.failure == nil { board.condition.wait(timeout: .milliseconds(500)) }
            board.condition.unlock()
        }
    }
}
