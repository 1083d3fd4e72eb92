import ConveyorJSON
import ConveyorQueue

/// The queue job that runs a migration's batches, under the table's lease: back to back
/// while its interval allows (see `BatchRunPolicy`), then it chains the next execution job
/// — at once, or at the moment the interval has elapsed — so batches never wait for a
/// scheduler tick.
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
            guard let outcome = try runner.runBatches(id, settings: settings, stopRequested: { context.isStopRequested }),
                case .chain(let at) = outcome.decision
            else { return }
            let interval = try runner.store.find(id)?.interval ?? 0
            try context.redis.command("SET", BatchedMigrationScheduler.enqueuedKey(id), "1", "EX", max(300, interval + 60))
            try context.client.enqueue(className, args: [JSONValue(id)], queue: BatchedMigrationScheduler.queue, retry: .disabled, at: at)
            chained = true
        }
    }
}
