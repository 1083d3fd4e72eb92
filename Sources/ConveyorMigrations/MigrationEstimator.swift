import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres
import Logging

/// `conveyor migrations estimate`: runs real batches of a job at sampled positions of its
/// walk (GitLab's order, `SamplePlan`), each in a transaction that is rolled back, within
/// a time budget, and turns what it measured — seconds, rows, WAL, sub-batches — into the
/// time the whole migration takes (`EstimateModel`). Nothing is stored: no migration or
/// job row is created and the table's data is as it was (WAL is still written: a rolled
/// back change is logged like a committed one, which is what is measured). Sequences a
/// job advances stay advanced, as with any rolled-back transaction.
public struct MigrationEstimator {
    public let db: PostgresConnection
    public let jobs: BatchedJobRegistry
    public let settings: MigrationSettings
    public let logger: Logger

    public init(db: PostgresConnection, jobs: BatchedJobRegistry, settings: MigrationSettings, logger: Logger) {
        self.db = db
        self.jobs = jobs
        self.settings = settings
        self.logger = logger
    }

    public static let defaultBudget = 30.0
    public static let maximumSamples = 64

    /// What is estimated: a configuration with queue options, or a queued migration.
    struct Target {
        var configuration: MigrationConfiguration
        var batching: Batching
        var pace: EstimateModel.Pace
        var start: BatchStart
        var last: BatchCursor
        var migrationID: Int64?
    }

    // MARK: - Entry points

    /// An estimate for a migration not queued yet, checked as `queue` checks it.
    public func estimate(_ configuration: MigrationConfiguration, options: BatchedMigrationStore.QueueOptions, budget: Double = defaultBudget, lanes: Int? = nil) throws -> MigrationEstimate {
        guard options.batchSize >= 1, options.subBatchSize >= 1, options.subBatchSize <= options.batchSize else {
            throw MigrationError(.invalidArguments, "--batch-size and --sub-batch-size must be at least 1, and --sub-batch-size no larger than --batch-size")
        }
        guard let job = jobs.entry(configuration.jobClassName) else {
            throw MigrationError(.unknownClass, "unknown batched migration job class '\(configuration.jobClassName)' (known: \(jobs.classNames.joined(separator: ", ")))")
        }
        try refuseUntransactional(configuration.jobClassName, job)
        let table = try db.resolveTable(configuration.tableName)
        let request = BatchingPlan.Request(
            column: configuration.columnName, cursor: options.cursor, batchClass: options.batchClass,
            jobClassName: configuration.jobClassName, jobCursor: job.cursor)
        let batching = try BatchingPlan.choose(request, facts: try TableFacts.load(table, db: db)).get()
        if batching.isCursor, options.minValue != nil || options.maxValue != nil {
            throw MigrationError(.invalidArguments, "--min-value and --max-value bound integer walks; a cursor walk covers the whole table (in its job's scope)")
        }
        try job.validate(configuration.jobArguments, table, db)
        try BatchedMigrationStore(db: db).validateScope(of: configuration, job: job, table: table)
        let walk = try BatchingStrategy(db: db, jobs: jobs).walk(
            batching: batching, tableName: configuration.tableName, jobClassName: configuration.jobClassName, arguments: configuration.jobArguments)
        let pace = EstimateModel.Pace(
            batchSize: options.batchSize, subBatchSize: options.subBatchSize, pauseMilliseconds: options.pauseMilliseconds,
            interval: options.interval, maxBatchSize: options.maxBatchSize, optimize: settings.optimize)
        guard let found = try walk.bounds() else { return MigrationEstimate.empty(configuration, batching: batching, pace: pace) }
        var start = BatchStart.at(found.first)
        var last = found.last
        if !batching.isCursor {
            start = .at(BatchCursor(integer: options.minValue ?? 1))
            if let max = options.maxValue { last = BatchCursor(integer: max) }
        }
        return try run(Target(configuration: configuration, batching: batching, pace: pace, start: start, last: last), walk: walk, budget: budget, lanes: lanes)
    }

    /// An estimate of what is left of a queued migration, at its current sizes.
    public func estimate(migration: BatchedMigration, budget: Double = defaultBudget, lanes: Int? = nil) throws -> MigrationEstimate {
        guard let job = jobs.entry(migration.jobClassName) else {
            throw MigrationError(.unknownClass, "unknown batched migration job class '\(migration.jobClassName)' (known: \(jobs.classNames.joined(separator: ", ")))")
        }
        try refuseUntransactional(migration.jobClassName, job)
        let batching = try migration.batching
        let pace = EstimateModel.Pace(
            batchSize: migration.batchSize, subBatchSize: migration.subBatchSize, pauseMilliseconds: migration.pauseMilliseconds,
            interval: migration.interval, maxBatchSize: migration.maxBatchSize, optimize: settings.optimize)
        guard !migration.status.isComplete else {
            throw MigrationError(.invalidState, "migration \(migration.id) is \(migration.status.name): nothing is left to estimate")
        }
        let strategy = BatchingStrategy(db: db, jobs: jobs)
        guard let start = try strategy.nextStart(of: migration, store: BatchedMigrationStore(db: db)), let bounds = migration.bounds else {
            return MigrationEstimate.empty(migration.configuration, batching: batching, pace: pace)
        }
        var target = Target(configuration: migration.configuration, batching: batching, pace: pace, start: start, last: bounds.last)
        target.migrationID = migration.id
        return try run(target, walk: try strategy.walk(for: migration), budget: budget, lanes: lanes)
    }

    func refuseUntransactional(_ name: String, _ job: BatchedJobRegistry.Entry) throws {
        guard job.transactional else {
            throw MigrationError(
                .invalidArguments,
                "\(name) cannot run inside a transaction (it declares runsInTransaction = false), and estimate runs every sampled batch in a transaction it rolls back: it cannot sample this job without changing the table")
        }
    }

    // MARK: - Sampling

    func run(_ target: Target, walk: any BatchWalk, budget: Double, lanes: Int?) throws -> MigrationEstimate {
        let began = ContinuousClock.now
        func elapsed() -> Double { (ContinuousClock.now - began).seconds }
        guard let first = try walk.nextBatch(from: target.start, size: 1, limit: target.last)?.first else {
            return MigrationEstimate.empty(target.configuration, batching: target.batching, pace: target.pace)
        }
        let remaining = BatchRange(first: first, last: target.last)
        let counted = try count(remaining, walk: walk, timeout: min(max(budget / 3, 1), 10))
        let timeout = Double(settings.subBatchTimeoutMilliseconds) / 1000
        let bookkeeping = try measureBookkeeping()

        try db.setStatementTimeout(.milliseconds(settings.subBatchTimeoutMilliseconds))
        defer { try? db.setStatementTimeout(nil) }
        var samples: [MigrationEstimate.Sample] = []
        var sampled: [ClosedRange<Double>] = []
        var lastCost = 0.0
        for fraction in SamplePlan.fractions(Self.maximumSamples) {
            if !samples.isEmpty, elapsed() + lastCost > budget { break }
            let sampleBegan = ContinuousClock.now
            guard let (position, startKey) = try samplePosition(fraction, remaining: remaining, keys: counted.keys, walk: walk, batchSize: target.pace.batchSize)
            else { continue }
            if SamplePlan.covered(position, by: sampled) { break }
            let lookupBegan = ContinuousClock.now
            guard let range = try walk.nextBatch(from: .at(startKey), size: target.pace.batchSize, limit: target.last) else { continue }
            let lookup = (ContinuousClock.now - lookupBegan).seconds
            let keys = try keysIn(range, walk: walk)
            let endPosition: Double
            if let b = range.last.integer, !target.batching.isCursor {
                endPosition = Double(b)
            } else {
                endPosition = position + Double(max(keys - 1, 0))
            }
            sampled.append(position...max(position, endPosition))
            var sample = try runSample(range, keys: keys, target: target, walk: walk, subBatchSize: target.pace.subBatchSize)
            sample.fraction = fraction
            sample.lookupSeconds = lookup
            if sample.timedOut == nil {
                let whole = try runSample(range, keys: keys, target: target, walk: walk, subBatchSize: max(target.pace.batchSize, keys))
                sample.downtimeSeconds = whole.timedOut == nil ? whole.seconds : nil
                sample.downtimeWalBytes = whole.walBytes
            }
            samples.append(sample)
            lastCost = (ContinuousClock.now - sampleBegan).seconds
            logger.debug("estimate sample", metadata: ["fraction": "\(fraction)", "range": "\(range)", "seconds": "\(sample.seconds)"])
        }

        let model = samples.filter { $0.timedOut == nil }.map(\.model)
        let lanes = FinalizePace.downtimeLanes(explicit: lanes, remainingKeys: counted.keys, batchSize: target.pace.batchSize)
        var estimate = MigrationEstimate(configuration: target.configuration, batching: target.batching, pace: target.pace)
        estimate.migrationID = target.migrationID
        estimate.rows = counted.rows
        estimate.keys = counted.keys
        estimate.countsExact = counted.exact
        estimate.batches = EstimateModel.batches(keys: counted.keys, size: target.pace.batchSize)
        estimate.samples = samples
        estimate.workers = EstimateModel.workers(keys: counted.keys, samples: model, pace: target.pace, bookkeeping: bookkeeping)
        estimate.finalize = EstimateModel.finalize(keys: counted.keys, samples: model, pace: target.pace, bookkeeping: bookkeeping)
        estimate.downtime = EstimateModel.downtime(keys: counted.keys, samples: model, pace: target.pace, bookkeeping: bookkeeping, lanes: lanes, statementTimeout: timeout)
        estimate.downtimeLanes = lanes
        estimate.walBytes = EstimateModel.walBytes(keys: counted.keys, samples: model)
        estimate.subBatchTimeout = timeout
        let slowestSubBatch = samples.map { $0.timedOut != nil ? timeout : $0.slowestSubBatch }.max() ?? 0
        estimate.slowestSubBatch = slowestSubBatch
        estimate.timeoutRisk = EstimateModel.timeoutRisk(slowestSubBatch: slowestSubBatch, timeout: timeout)
        estimate.budget = budget
        estimate.bookkeeping = bookkeeping
        estimate.elapsed = elapsed()
        return estimate
    }

    /// Where the sample at `fraction` starts: its position (a key for integer walks, an
    /// offset in the walk's order for cursors) and its first key.
    func samplePosition(_ fraction: Double, remaining: BatchRange, keys: Int64, walk: any BatchWalk, batchSize: Int) throws -> (Double, BatchCursor)? {
        if let cursorWalk = walk as? CursorWalk {
            let offset = SamplePlan.offset(fraction: fraction, keys: keys, batchSize: batchSize)
            let condition = cursorWalk.condition(from: remaining.first, to: .through(remaining.last))
            let key = try db.query("SELECT (\(cursorWalk.keys(condition, order: cursorWalk.ascending, offset: Int(offset)))) AS k").first?.cursor("k")
            return key.map { (Double(offset), $0) }
        }
        guard let first = remaining.first.integer, let last = remaining.last.integer else { return nil }
        // Keys are sparse (gaps, distinct values): a batch spans about batchSize × (key range
        // / keys), so the last sample is a full batch too.
        var span = Int64(batchSize)
        if keys > 0 {
            span = Int64((Double(last - first + 1) / Double(keys) * Double(batchSize)).rounded(.up))
        }
        let start = SamplePlan.integerStart(fraction: fraction, first: first, last: last, span: span)
        return (Double(start), BatchCursor(integer: start))
    }

    /// Keys (batch-size units) in a sampled batch.
    func keysIn(_ range: BatchRange, walk: any BatchWalk) throws -> Int {
        if let distinct = walk as? DistinctValueWalk, let lo = range.first.integer, let hi = range.last.integer {
            return try db.query("\(distinct.distinctValues(from: lo, through: hi)) SELECT count(*) AS n FROM walk WHERE v IS NOT NULL").first?["n"].int() ?? 0
        }
        return try db.query("SELECT count(*) AS n FROM \(table: walk.table) WHERE \(walk.condition(from: range.first, to: .through(range.last)))").first?["n"].int() ?? 0
    }

    struct Counts {
        var rows: Int64
        var keys: Int64
        var exact: Bool
    }

    /// The rows (and keys) left: counted when that takes less than `timeout` seconds,
    /// else the planner's estimate.
    func count(_ range: BatchRange, walk: any BatchWalk, timeout: Double) throws -> Counts {
        let condition = walk.condition(from: range.first, to: .through(range.last))
        do {
            return try db.withStatementTimeout(.milliseconds(Int(timeout * 1000))) {
                let rows = try db.query("SELECT count(*) AS n FROM \(table: walk.table) WHERE \(condition)").first?["n"].int64() ?? 0
                var keys = rows
                if let distinct = walk as? DistinctValueWalk, let lo = range.first.integer, let hi = range.last.integer {
                    keys = try db.query("\(distinct.distinctValues(from: lo, through: hi)) SELECT count(*) AS n FROM walk WHERE v IS NOT NULL").first?["n"].int64() ?? 0
                }
                return Counts(rows: rows, keys: keys, exact: true)
            }
        } catch let error as PostgresError where error.isTimeout {
            let rows = try walk.estimatedRows(in: range) ?? 0
            var keys = rows
            if let distinct = walk as? DistinctValueWalk {
                let stats = try db.query(
                    """
                    SELECT n_distinct::float8 AS d FROM pg_stats
                    WHERE format('%I.%I', schemaname, tablename)::regclass = to_regclass(\(distinct.table.quoted)) AND attname = \(distinct.column.name)
                    """).first?["d"].optionalDouble()
                if let stats { keys = stats < 0 ? Int64((-stats * Double(rows)).rounded()) : min(Int64(stats), rows) }
            }
            return Counts(rows: rows, keys: keys, exact: false)
        }
    }

    /// Runs the job on `range` in a transaction it rolls back, measuring its time and WAL.
    func runSample(_ range: BatchRange, keys: Int, target: Target, walk: any BatchWalk, subBatchSize: Int) throws -> MigrationEstimate.Sample {
        guard let entry = jobs.entry(target.configuration.jobClassName) else {
            throw MigrationError(.unknownClass, "unknown batched migration job class '\(target.configuration.jobClassName)'")
        }
        let cursor = target.batching.isCursor
        let job = BatchedJob(
            id: 0, migrationID: target.migrationID ?? 0, minValue: cursor ? 0 : range.first.integer ?? 0, maxValue: cursor ? 0 : range.last.integer ?? 0,
            batchSize: target.pace.batchSize, subBatchSize: min(subBatchSize, max(target.pace.batchSize, subBatchSize)), pauseMilliseconds: 0, status: .running,
            minCursor: cursor ? range.first : nil, maxCursor: cursor ? range.last : nil)
        let context = BatchedJobContext(
            db: db, walk: walk, batching: target.batching, column: try db.resolveColumn(target.batching.column, in: walk.table), job: job,
            arguments: target.configuration.jobArguments, statementTimeout: .milliseconds(settings.subBatchTimeoutMilliseconds), logger: logger)
        var sample = MigrationEstimate.Sample(range: range, keys: keys)
        try db.execute("BEGIN")
        var open = true
        defer { if open, db.isConnected { _ = try? db.execute("ROLLBACK") } }
        let lsn = try db.query("SELECT pg_current_wal_insert_lsn()::text AS lsn").first?["lsn"].string() ?? "0/0"
        let began = ContinuousClock.now
        do {
            try entry.perform(context)
        } catch let timeout as SubBatchTimeout {
            sample.timedOut = timeout.description
        } catch let error as PostgresError where error.sqlState == "25001" {
            throw MigrationError(
                .invalidArguments,
                "\(target.configuration.jobClassName) cannot run inside a transaction (\(error.message)); estimate runs every sampled batch in a transaction it rolls back, so it cannot sample this job")
        }
        sample.seconds = (ContinuousClock.now - began).seconds
        guard db.inTransaction else {
            open = false
            throw MigrationError(
                .invalidState,
                "\(target.configuration.jobClassName) ended the estimate's transaction itself (COMMIT or ROLLBACK inside the job): what it changed in \(range) may have been committed. Declare runsInTransaction = false for such a job")
        }
        if sample.timedOut == nil {
            sample.walBytes = try db.query("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), \(lsn)::pg_lsn)::bigint AS bytes").first?["bytes"].int64() ?? 0
        }
        try db.execute("ROLLBACK")
        open = false
        sample.rows = context.rowsTouched
        sample.subBatches = context.timings.count
        sample.slowestSubBatch = context.timings.max() ?? sample.seconds
        return sample
    }

    /// A round trip (the median of five `SELECT 1`) and a commit that flushes WAL (a
    /// temporary table created and dropped at commit: catalog rows are WAL-logged, so the
    /// commit waits for its flush like a batch's does).
    func measureBookkeeping() throws -> EstimateModel.Bookkeeping {
        var trips: [Double] = []
        for _ in 0..<5 {
            let began = ContinuousClock.now
            try db.execute("SELECT 1")
            trips.append((ContinuousClock.now - began).seconds)
        }
        let roundTrip = trips.sorted()[trips.count / 2]
        var commits: [Double] = []
        for _ in 0..<3 {
            do {
                try db.execute("BEGIN; CREATE TEMPORARY TABLE conveyor_estimate_probe (x int) ON COMMIT DROP")
                let began = ContinuousClock.now
                try db.execute("COMMIT")
                commits.append((ContinuousClock.now - began).seconds)
            } catch {
                if db.inTransaction { _ = try? db.execute("ROLLBACK") }
                break
            }
        }
        let commit = commits.isEmpty ? roundTrip : commits.sorted()[commits.count / 2]
        return EstimateModel.Bookkeeping(roundTrip: roundTrip, commit: commit)
    }
}
