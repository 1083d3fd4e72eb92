import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorPlatform
import Logging

/// Runs inside worker processes (GitLab's cron worker, but every few seconds): picks the
/// executable migrations — at most `max running`, one per table — whose interval has
/// elapsed, and enqueues one execution job for each on the batched migrations queue.
public struct BatchedMigrationScheduler: WorkerService {
    public static let queue = "batched_background_migrations"
    public var name: String { "migration-scheduler" }
    public let tick: Duration

    public init(tick: Duration = .seconds(2)) { self.tick = tick }

    static let tickLock = "conveyor:batched-migrations:scheduler"
    static func enqueuedKey(_ id: Int64) -> String { "conveyor:batched-migrations:enqueued:\(id)" }

    public func run(context: WorkerServiceContext) {
        var redis: RedisConnection?
        var db: PostgresConnection?
        var reported = false
        while !context.isQuiet {
            do {
                if redis == nil { redis = try RedisConnection(context.configuration.redis) }
                if db == nil { db = try PostgresConnection(context.configuration.postgres) }
                try schedule(redis: redis!, db: db!, logger: context.logger)
                reported = false
            } catch {
                if !reported {
                    context.logger.warning("batched migration scheduler cannot run, retrying", metadata: ["error": "\(error)"])
                    reported = true
                }
            }
            context.sleep(for: tick)
        }
    }

    /// One scheduling pass. Returns the ids enqueued.
    @discardableResult
    public func schedule(redis: RedisConnection, db: PostgresConnection, logger: Logger) throws -> [Int64] {
        // One process per tick does the work.
        let millis = max(100, Int(tick.seconds * 1000) - 100)
        guard try redis.command("SET", Self.tickLock, "1", "NX", "PX", millis) != .null else { return [] }
        guard try Schema.currentVersion(db) > 0 else { return [] }
        let settings = try MigrationSettings.load(db)
        guard settings.executeOnSchedule else { return [] }
        let store = BatchedMigrationStore(db: db)
        var enqueued: [Int64] = []
        for migration in try store.executableDistinctOnTable(limit: settings.maxRunningMigrations) {
            guard try intervalElapsed(migration, store: store) else { continue }
            // At most one execution job per migration waits or runs at a time.
            guard try redis.command("SET", Self.enqueuedKey(migration.id), "1", "NX", "EX", 300) != .null else { continue }
            try QueueClient(redis: redis).push(BatchedMigrationExecutionJob.payload(migrationID: migration.id))
            enqueued.append(migration.id)
        }
        if !enqueued.isEmpty { logger.debug("enqueued batched migration batches", metadata: ["ids": "\(enqueued)"]) }
        return enqueued
    }

    func intervalElapsed(_ migration: BatchedMigration, store: BatchedMigrationStore) throws -> Bool {
        guard let last = try store.lastJob(of: migration.id) else { return true }
        return last.createdAt.addingTimeInterval(Double(migration.interval)) <= Date().addingTimeInterval(0.25)
    }
}

/// The queue job that runs one batch of one migration, under the table's lease.
public enum BatchedMigrationExecutionJob {
    public static let className = "Conveyor::BatchedMigrationExecutionJob"

    public static func payload(migrationID: Int64) -> JobPayload {
        JobPayload(className: className, args: [JSONValue(migrationID)], queue: BatchedMigrationScheduler.queue, retry: .disabled)
    }

    public static func register(into registry: inout JobRegistry, batchedJobs: BatchedJobRegistry) {
        registry.register(className) { context, args in
            guard let id = args.first?.int64Value else { throw JobError.badArguments("\(className) expects [migration_id]") }
            var chained = false
            defer { if !chained { _ = try? context.redis.command("DEL", BatchedMigrationScheduler.enqueuedKey(id)) } }
            let db = try context.postgres()
            let settings = try MigrationSettings.load(db)
            // The global switch: queued batches that have not started yet do not start.
            guard settings.executeOnSchedule else { return }
            let runner = BatchedMigrationRunner(db: db, jobs: batchedJobs, logger: context.logger)
            guard let migration = try runner.store.find(id) else { return }
            let result = try runner.withTableLease(migration.tableName) { () throws -> BatchedMigrationRunner.StepResult? in
                // Re-read under the lease: it may have been paused, held or finished meanwhile.
                guard let current = try runner.store.find(id), current.status == .active, !current.isOnHold,
                    try BatchedMigrationScheduler().intervalElapsed(current, store: runner.store)
                else { return nil }
                return try runner.runStep(current, settings: settings)
            }
            guard case .ranBatch? = result, !context.isStopRequested, let current = try runner.store.find(id),
                current.status == .active, !current.isOnHold
            else { return }
            // Chain the next batch at exactly its interval instead of waiting for the next
            // scheduler tick: back-to-back batches when the interval is 0.
            let due = try runner.store.lastJob(of: id).map { $0.createdAt.timeIntervalSince1970 + Double(current.interval) } ?? 0
            try context.redis.command("SET", BatchedMigrationScheduler.enqueuedKey(id), "1", "EX", max(300, current.interval + 60))
            try context.client.enqueue(className, args: [JSONValue(id)], queue: BatchedMigrationScheduler.queue, retry: .disabled, at: due)
            chained = true
        }
    }
}
