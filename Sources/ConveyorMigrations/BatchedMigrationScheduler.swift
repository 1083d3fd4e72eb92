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
/// Between ticks it listens on PostgreSQL: a migration queued, resumed or retried, or the
/// global switch turned on, notifies `conveyor_batched_migrations` (a trigger), and the
/// pass runs at once instead of at the next tick.
public struct BatchedMigrationScheduler: WorkerService {
    public static let queue = "batched_background_migrations"
    /// The channel the schema's trigger notifies.
    public static let channel = "conveyor_batched_migrations"
    public var name: String { "migration-scheduler" }
    public let tick: Duration

    public init(tick: Duration = .seconds(2)) { self.tick = tick }

    static let tickLock = "conveyor:batched-migrations:scheduler"
    static func enqueuedKey(_ id: Int64) -> String { "conveyor:batched-migrations:enqueued:\(id)" }

    public func run(context: WorkerServiceContext) {
        var redis: RedisConnection?
        var db: PostgresConnection?
        var listeningSession = -1
        var reported = false
        var woken = false
        while !context.isQuiet {
            do {
                if redis == nil { redis = try RedisConnection(context.configuration.redis) }
                if db == nil { db = try PostgresConnection(context.configuration.postgres) }
                // A reconnect drops the subscription; listen again on the new session.
                if listeningSession != db!.reconnectCount {
                    try db!.listen(SQLIdentifier(Self.channel))
                    listeningSession = db!.reconnectCount
                }
                try schedule(redis: redis!, db: db!, logger: context.logger, woken: woken)
                reported = false
            } catch {
                if !reported {
                    context.logger.warning("batched migration scheduler cannot run, retrying", metadata: ["error": "\(error)"])
                    reported = true
                }
                listeningSession = -1
            }
            woken = false
            let deadline = ContinuousClock.now + tick
            while ContinuousClock.now < deadline, !context.isQuiet {
                guard let db, listeningSession == db.reconnectCount,
                    let received = try? db.notifications(waitingUpTo: .milliseconds(50))
                else {
                    listeningSession = -1
                    blockingSleep(seconds: 0.05)
                    continue
                }
                if !received.isEmpty {
                    woken = true
                    break
                }
            }
        }
    }

    /// One scheduling pass. Returns the ids enqueued. On a tick only one process does it
    /// (a short Redis lock); a pass `woken` by a notification skips that lock, since the
    /// per-migration key still keeps it to one execution job per migration.
    @discardableResult
    public func schedule(redis: RedisConnection, db: PostgresConnection, logger: Logger, woken: Bool = false) throws -> [Int64] {
        if !woken {
            let millis = max(100, Int(tick.seconds * 1000) - 100)
            guard try redis.command("SET", Self.tickLock, "1", "NX", "PX", millis) != .null else { return [] }
        }
        let version = try Schema.currentVersion(db)
        guard version > 0 else { return [] }
        guard version >= Schema.latestVersion else {
            // Logged once by `run` until it passes: the tables lack what this release reads.
            throw MigrationError(
                .invalidState,
                "batched migrations wait for the schema upgrade: the database is at version \(version), this release needs \(Schema.latestVersion); run `conveyor migrations setup`")
        }
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
        guard let created = try store.newestJobCreatedAt(of: migration.id) else { return true }
        return created.addingTimeInterval(Double(migration.interval)) <= Date().addingTimeInterval(BatchRunPolicy.intervalTolerance)
    }
}
