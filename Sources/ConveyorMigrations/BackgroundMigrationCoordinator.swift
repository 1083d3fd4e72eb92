import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Logging

/// GitLab's `Gitlab::BackgroundMigration` coordinator: counts what is left (`remaining`),
/// runs queued jobs inline (`steal`) and schedules jobs over a table's key range.
public struct BackgroundMigrationCoordinator {
    public let redis: RedisConnection
    public let registry: BackgroundMigrationRegistry
    public let logger: Logger
    private let openDatabase: () throws -> PostgresConnection

    public init(redis: RedisConnection, registry: BackgroundMigrationRegistry, logger: Logger, database: @escaping () throws -> PostgresConnection) {
        self.redis = redis
        self.registry = registry
        self.logger = logger
        self.openDatabase = database
    }

    // MARK: - remaining

    public struct Remaining: Sendable, Equatable {
        public var queued = 0
        public var scheduled = 0
        public var retrying = 0
        public var dead = 0
        /// GitLab's number: the queue plus the scheduled set.
        public var total: Int { queued + scheduled }
    }

    /// Counts `BackgroundMigrationWorker` jobs (of `migration` if given).
    public func remaining(_ migration: String? = nil) throws(RedisError) -> Remaining {
        var result = Remaining()
        for (source, count) in [(Source.scheduled, \Remaining.scheduled), (.queue, \.queued), (.retry, \.retrying), (.dead, \.dead)] {
            result[keyPath: count] = try entries(of: source).reduce(0) { $0 + (matches($1, migration) ? 1 : 0) }
        }
        return result
    }

    enum Source: String, CaseIterable {
        case scheduled, queue, retry, dead
        var key: String {
            switch self {
            case .scheduled: return RedisKeys.schedule
            case .queue: return RedisKeys.queue(BackgroundMigrationWorker.queue)
            case .retry: return RedisKeys.retry
            case .dead: return RedisKeys.dead
            }
        }
    }

    private func entries(of source: Source) throws(RedisError) -> [[UInt8]] {
        let reply = source == .queue
            ? try redis.command("LRANGE", source.key, 0, -1)
            : try redis.command("ZRANGE", source.key, 0, -1)
        return reply.array?.compactMap(\.bytes) ?? []
    }

    private func matches(_ raw: [UInt8], _ migration: String?) -> Bool {
        guard case .success(let payload) = JobPayload.decode(raw),
            let (name, _) = BackgroundMigrationWorker.migration(of: payload)
        else { return false }
        return migration == nil || name == migration
    }

    // MARK: - steal

    public struct StealSummary: Sendable {
        public var performed = 0
        public var byClass: [String: Int] = [:]
        public var seconds = 0.0
    }

    public struct StealFailure: Error, CustomStringConvertible {
        public let migration: String
        public let arguments: [JSONValue]
        public let jid: String
        public let underlying: String
        public let summary: StealSummary
        public var description: String {
            "\(migration) \(JSONValue.array(arguments)) (jid \(jid)) failed: \(underlying); the job was put back in the '\(BackgroundMigrationWorker.queue)' queue"
        }
    }

    /// Takes matching jobs from the scheduled set, then the queue (then retry and dead
    /// with `retryDeadJobs`) and runs each inline. A job runs only if this call removed
    /// it, so a live worker and `steal` never both run it; while it waits and runs it sits
    /// in a working list covered by a lease, so even `kill -9` of `steal` loses nothing.
    /// Jobs are claimed up to 100 at a time (the claim also acknowledges the previous
    /// ones: one Redis round trip per claim). The first failure puts that job and the
    /// claimed ones not yet run back in the queue and stops.
    public func steal(_ migration: String? = nil, retryDeadJobs: Bool = false, progress: ((StealSummary) -> Void)? = nil) throws -> StealSummary {
        let start = ContinuousClock.now
        var summary = StealSummary()
        let claimer = try StealClaimer(configuration: redis.configuration)
        defer { claimer.release() }
        let db = try openDatabase()
        var tracking = TrackingCheck(db: db)
        var sources: [Source] = [.scheduled, .queue]
        if retryDeadJobs { sources += [.retry, .dead] }
        for source in sources {
            // Repeat passes until one finds nothing: workers and producers move entries
            // while we page through.
            var found = true
            while found {
                found = false
                var offset = 0
                while true {
                    let page = try self.page(source, offset: offset, count: 500)
                    if page.isEmpty { break }
                    var matching: [(raw: [UInt8], payload: JobPayload, name: String, arguments: [JSONValue])] = []
                    for raw in page {
                        guard case .success(let payload) = JobPayload.decode(raw), let (name, arguments) = BackgroundMigrationWorker.migration(of: payload),
                            migration == nil || name == migration
                        else { continue }
                        matching.append((raw, payload, name, arguments))
                    }
                    offset += page.count - matching.count
                    if !matching.isEmpty { found = true }
                    for chunkStart in stride(from: 0, to: matching.count, by: 100) {
                        let chunk = Array(matching[chunkStart..<min(chunkStart + 100, matching.count)])
                        let removed = try claimer.claim(chunk.map(\.raw), from: source.key, sorted: source != .queue)
                        let claimed = zip(chunk, removed).filter(\.1).map(\.0)
                        for (index, job) in claimed.enumerated() {
                            do {
                                let track = try tracking.mayHavePending(job.name)
                                try BackgroundMigrationWorker.perform(job.name, job.arguments, registry: registry, db: db, logger: logger, track: track)
                            } catch {
                                summary.seconds = (ContinuousClock.now - start).seconds
                                try claimer.giveBack(failed: job.payload, unstarted: claimed[(index + 1)...].map(\.raw))
                                throw StealFailure(migration: job.name, arguments: job.arguments, jid: job.payload.jid, underlying: String(describing: error), summary: summary)
                            }
                            summary.performed += 1
                            summary.byClass[job.name, default: 0] += 1
                            progress?(summary)
                        }
                    }
                }
            }
        }
        try claimer.finish()
        summary.seconds = (ContinuousClock.now - start).seconds
        return summary
    }

    /// Whether tracked rows may exist for a class, re-checked every few seconds, so jobs
    /// without tracking rows skip the UPDATE that would mark them.
    struct TrackingCheck {
        let db: PostgresConnection
        var known: [String: (pending: Bool, checked: ContinuousClock.Instant)] = [:]

        mutating func mayHavePending(_ className: String) throws -> Bool {
            if let entry = known[className], ContinuousClock.now - entry.checked < .seconds(2) { return entry.pending }
            let pending = try BackgroundMigrationTracking.hasPending(className: className, db)
            known[className] = (pending, .now)
            return pending
        }
    }

    /// Oldest entries first: the tail of the list, the lowest scores of a set.
    private func page(_ source: Source, offset: Int, count: Int) throws(RedisError) -> [[UInt8]] {
        if source == .queue {
            let reply = try redis.command("LRANGE", source.key, -(offset + count), -(offset + 1))
            return (reply.array?.compactMap(\.bytes) ?? []).reversed()
        }
        return try redis.command("ZRANGE", source.key, offset, offset + count - 1).array?.compactMap(\.bytes) ?? []
    }

    // MARK: - pending (tracked rows)

    /// Runs tracked `pending` rows inline and marks them succeeded (the reference page's
    /// "stuck in pending" procedure). Stops at the first failure.
    public func runPending(_ migration: String?, report: (BackgroundMigrationTracking.Row, (any Error)?) -> Void) throws -> Int {
        let db = try openDatabase()
        var done = 0
        var lastID: Int64 = 0
        while true {
            let rows = try BackgroundMigrationTracking.pendingRows(className: migration, limit: 100, afterID: lastID, db)
            if rows.isEmpty { return done }
            for row in rows {
                lastID = row.id
                do {
                    try BackgroundMigrationWorker.perform(row.className, row.arguments, registry: registry, db: db, logger: logger)
                    report(row, nil)
                    done += 1
                } catch {
                    report(row, error)
                    throw error
                }
            }
        }
    }

    // MARK: - enqueue-range

    public struct RangeSchedule: Sendable {
        public var jobs = 0
        public var lastDelay = 0.0
        public var firstRange: (Int64, Int64)?
    }

    /// GitLab's `queue_background_migration_jobs_by_range_at_intervals`: walks the table's
    /// key in batches of `batchSize` rows and schedules one job per batch, the n-th at
    /// `initialDelay + delay × n`; with `track`, records each as `pending`.
    public func enqueueRange(
        migration: String, table: String, column: String?, otherArguments: [JSONValue], batchSize: Int,
        delay: Double, initialDelay: Double = 0, track: Bool
    ) throws -> RangeSchedule {
        guard batchSize > 0 else { throw MigrationError(.invalidArguments, "--batch-size must be at least 1") }
        guard let entry = registry.entry(migration) else {
            throw MigrationError(.unknownClass, "no background migration '\(migration)' is registered (known: \(registry.classNames.joined(separator: ", ")))")
        }
        let db = try openDatabase()
        if track { try Schema.setUp(db) }
        let resolved = try db.resolveTable(table)
        let key = try column.map { try db.resolveColumn($0, in: resolved) } ?? db.primaryKeyColumn(of: resolved)
        let client = QueueClient(redis: redis)
        let now = Timestamp.now()
        var schedule = RangeSchedule()
        var start: Int64? = try db.query("SELECT min(\(identifier: key))::bigint AS v FROM \(table: resolved)").first?["v"].optionalInt64()
        var pendingPushes: [(JobPayload, Double)] = []
        var tracked: [JSONValue] = []
        func flush() throws {
            try client.scheduleBulk(pendingPushes)
            pendingPushes.removeAll()
            if track, !tracked.isEmpty {
                try db.query(
                    """
                    INSERT INTO background_migration_jobs (class_name, arguments, status)
                    SELECT \(migration), value, \(BackgroundMigrationTracking.pending) FROM jsonb_array_elements(\(JSONValue.array(tracked))::jsonb)
                    """)
                tracked.removeAll()
            }
        }
        while let low = start {
            let row = try db.query(
                """
                SELECT min(k)::bigint AS lo, max(k)::bigint AS hi FROM (
                  SELECT \(identifier: key) AS k FROM \(table: resolved) WHERE \(identifier: key) >= \(low)
                  ORDER BY \(identifier: key) LIMIT \(batchSize)) s
                """).first
            guard let lo = try row?["lo"].optionalInt64(), let hi = try row?["hi"].optionalInt64() else { break }
            schedule.jobs += 1
            if schedule.firstRange == nil { schedule.firstRange = (lo, hi) }
            let range: [JSONValue] = [JSONValue(lo), JSONValue(hi)]
            let arguments = entry.rangeFirst ? range + otherArguments : otherArguments + range
            schedule.lastDelay = initialDelay + delay * Double(schedule.jobs)
            pendingPushes.append((BackgroundMigrationWorker.payload(migration: migration, arguments: arguments), now + schedule.lastDelay))
            if track { tracked.append(.array(arguments)) }
            if pendingPushes.count >= 1000 { try flush() }
            start = hi == Int64.max ? nil : hi + 1
        }
        try flush()
        return schedule
    }
}

/// Holds stolen jobs in a claim list registered like a worker's working list (reliable
/// fetch owns the keys and scripts), under a lease renewed by a thread of its own, so the
/// jobs of a crashed `steal` are recovered by any worker.
final class StealClaimer {
    let identity: String
    private let claimList: ReliableFetch.Claim
    private let redis: RedisConnection
    private let renewer: LeaseRenewer

    init(configuration: RedisConfiguration) throws {
        identity = "steal:\(ProcessFacts.hostname):\(ProcessFacts.pid):\(JobID.make().prefix(8))"
        claimList = ReliableFetch.Claim(identity: identity, queue: BackgroundMigrationWorker.queue)
        redis = try RedisConnection(configuration)
        renewer = try LeaseRenewer(identity: identity, configuration: configuration)
        try claimList.register(on: redis)
    }

    var list: String { claimList.list }

    /// Claims the entries this call removes from `key`; one flag per entry.
    func claim(_ raws: [[UInt8]], from key: String, sorted: Bool) throws(RedisError) -> [Bool] {
        try claimList.claim(raws, from: key, sorted: sorted, on: redis)
    }

    /// Acknowledges the last claims.
    func finish() throws(RedisError) {
        try claimList.finish(on: redis)
    }

    func giveBack(failed payload: JobPayload, unstarted: [[UInt8]]) throws(RedisError) {
        var payload = payload
        payload.queue = BackgroundMigrationWorker.queue
        payload.setTimestamp("enqueued_at", Timestamp.now())
        payload.object["at"] = nil
        try claimList.giveBack(failed: payload.serialized(), unstarted: unstarted, on: redis)
    }

    /// Ends the lease. Jobs still held (steal stopped by an error) stay registered, so a
    /// worker recovers them as soon as the lease is gone.
    func release() {
        renewer.stop()
        claimList.release(on: redis)
    }
}

/// Keeps `conveyor:alive:<identity>` set while a long operation runs, from a thread of its
/// own so a job that runs for minutes does not let the lease lapse.
final class LeaseRenewer: @unchecked Sendable {
    private let condition = ConditionLock()
    private var isStopped = false

    init(identity: String, configuration: RedisConfiguration, lease: Duration = .seconds(30)) throws {
        let redis = try RedisConnection(configuration)
        let milliseconds = Int(lease.seconds * 1000)
        try redis.command("SET", ReliableFetch.alive(identity), "steal", "PX", milliseconds)
        nonisolated(unsafe) let connection = redis
        try DetachedThread.start(name: "lease") { [self] in
            condition.lock()
            while !isStopped {
                condition.wait(timeout: .seconds(5))
                if isStopped { break }
                condition.unlock()
                _ = try? connection.command("SET", ReliableFetch.alive(identity), "steal", "PX", milliseconds)
                condition.lock()
            }
            condition.unlock()
        }
    }

    func stop() {
        condition.lock()
        isStopped = true
        condition.broadcast()
        condition.unlock()
    }
}
