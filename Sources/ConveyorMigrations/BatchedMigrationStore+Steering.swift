import ConveyorJSON
import ConveyorPostgres

/// Operator actions that change a migration — update its pace, retry, delete, queue —
/// each in one transaction that locks the migration's row (`SELECT … FOR UPDATE`), checks
/// the rule against the row as it is, makes the change and records it in the audit trail.
extension BatchedMigrationStore {
    /// Locks a migration's row for the rest of the transaction.
    func lockForUpdate(_ id: Int64, on tx: PostgresConnection) throws -> BatchedMigration {
        guard let row = try tx.query("SELECT \(unescaped: BatchedMigration.columns) FROM batched_background_migrations WHERE id = \(id) FOR UPDATE").first else {
            throw MigrationError(.notFound, "no batched background migration with id \(id)")
        }
        return try BatchedMigration(row: row)
    }

    /// `conveyor migrations update`: new sizes, pause or interval, used from the next batch
    /// (a worker reads the migration back after every batch). Out-of-range values are
    /// refused with the limit named, and then nothing changes.
    @discardableResult
    public func update(_ id: Int64, _ tuning: MigrationTuning, actor: OperatorActor? = nil) throws -> (before: BatchedMigration, after: BatchedMigration) {
        try atomically { tx in
            let before = try lockForUpdate(id, on: tx)
            if before.status.isComplete {
                throw MigrationError(.invalidState, "migration \(id) is \(before.status.name): there are no batches left to tune")
            }
            let current = MigrationTuning.Values(before)
            let next: MigrationTuning.Values
            switch tuning.apply(to: current) {
            case .success(let values): next = values
            case .failure(let refusal): throw MigrationError(.invalidArguments, refusal.description)
            }
            let after = try BatchedMigration(row: tx.query(
                """
                UPDATE batched_background_migrations SET batch_size = \(next.batchSize), sub_batch_size = \(next.subBatchSize),
                  pause_ms = \(next.pauseMilliseconds), "interval" = \(next.interval), max_batch_size = \(next.maxBatchSize), updated_at = now()
                WHERE id = \(id) RETURNING \(unescaped: BatchedMigration.columns)
                """)[0])
            if let actor {
                try AuditLog.record(tx, actor: actor, action: "update", migrationID: id, target: AuditLog.target(after), changes: current.changes(to: next))
            }
            return (before, after)
        }
    }

    /// GitLab's `retry_failed_jobs!` as one event of the state machine under the row lock:
    /// refused unless the migration is failed; every failed job is split (or halved) with
    /// its attempts reset, and the migration is active again — all in one transaction.
    public func retry(_ id: Int64, actor: OperatorActor? = nil, jobs registry: BatchedJobRegistry) throws -> (BatchedMigration, Int) {
        try atomically { tx in
            let migration = try lockForUpdate(id, on: tx)
            _ = try migration.status.applying(.retry).get()
            var retried = 0
            while true {
                let failed = try jobs(of: id, status: .failed, limit: 100).filter { !$0.stillRetryable }
                if failed.isEmpty { break }
                for job in failed {
                    try splitAndRetry(job, migration: migration, jobs: registry)
                    retried += 1
                }
            }
            let active = try apply(.retry, to: id)
            if let actor {
                guard case .object(var changes) = AuditLog.statusChange(migration.status, active.status) else { return (active, retried) }
                changes["failed_jobs_retried"] = AuditLog.change(.null, JSONValue(retried))
                try AuditLog.record(tx, actor: actor, action: "retry", migrationID: id, target: AuditLog.target(active), changes: .object(changes))
            }
            return (active, retried)
        }
    }

    /// GitLab's `delete_batched_background_migration`: the migration and its jobs (and
    /// their transition logs) are deleted, so the same configuration can be queued again.
    /// Its audit trail stays. Returns the deleted migration and how many jobs went with it.
    @discardableResult
    public func delete(_ id: Int64, actor: OperatorActor? = nil) throws -> (BatchedMigration, Int) {
        try atomically { tx in
            let migration = try lockForUpdate(id, on: tx)
            let jobs = try tx.query("SELECT count(*) AS n FROM batched_background_migration_jobs WHERE batched_background_migration_id = \(id)").first?["n"].int() ?? 0
            try tx.query("DELETE FROM batched_background_migrations WHERE id = \(id)")
            if let actor {
                guard case .object(var changes) = AuditLog.statusChange(migration.status, nil) else { return (migration, jobs) }
                changes["jobs"] = AuditLog.change(JSONValue(jobs), .null)
                changes["configuration"] = AuditLog.change(.string(migration.configuration.description), .null)
                try AuditLog.record(tx, actor: actor, action: "delete", migrationID: id, target: AuditLog.target(migration), changes: .object(changes))
            }
            return (migration, jobs)
        }
    }

    /// `queue`, recorded in the audit trail in the same transaction.
    @discardableResult
    public func queue(_ configuration: MigrationConfiguration, options: QueueOptions, jobs registry: BatchedJobRegistry, actor: OperatorActor) throws -> BatchedMigration {
        try atomically { tx in
            let migration = try BatchedMigrationStore(db: tx).queue(configuration, options: options, jobs: registry)
            guard case .object(var changes) = AuditLog.statusChange(nil, migration.status) else { return migration }
            changes["configuration"] = AuditLog.change(.null, .string(configuration.description))
            let pace: [(String, JSONValue)] = [
                ("batch_size", JSONValue(migration.batchSize)), ("sub_batch_size", JSONValue(migration.subBatchSize)),
                ("pause_ms", JSONValue(migration.pauseMilliseconds)), ("interval", JSONValue(migration.interval)),
                ("max_batch_size", migration.maxBatchSize.map { JSONValue($0) } ?? .null),
            ]
            for (name, value) in pace { changes[name] = AuditLog.change(.null, value) }
            try AuditLog.record(tx, actor: actor, action: "queue", migrationID: migration.id, target: AuditLog.target(migration), changes: .object(changes))
            return migration
        }
    }
}

extension BatchedMigrationStore {
    /// A running job interrupted by a worker shutdown goes back to pending with the attempt
    /// it was counted for taken back (GitLab does not count `Sidekiq::Shutdown`), logged as
    /// running → pending.
    func releaseInterrupted(_ job: BatchedJob, metrics: JSONValue) throws -> BatchedJob {
        let rows = try db.query(
            """
            WITH updated AS (
              UPDATE batched_background_migration_jobs SET status = \(BatchedJobStatus.pending.rawValue), updated_at = now(),
                attempts = greatest(attempts - 1, 0), finished_at = NULL, metrics = \(metrics)::jsonb
              WHERE id = \(job.id) AND status = \(BatchedJobStatus.running.rawValue)
              RETURNING \(unescaped: BatchedJob.columns)
            ), logged AS (
              INSERT INTO batched_background_migration_job_transition_logs
                (batched_background_migration_job_id, previous_status, next_status, exception_class, exception_message)
              SELECT id, \(BatchedJobStatus.running.rawValue), \(BatchedJobStatus.pending.rawValue), 'Conveyor::WorkerShutdown',
                     \(WorkerShutdown().description) FROM updated
            )
            SELECT * FROM updated
            """)
        guard let row = rows.first else { throw MigrationError(.notFound, "batched job \(job.id) is no longer running") }
        return try BatchedJob(row: row)
    }
}

extension MigrationSettings {
    /// `store`, recorded in the audit trail (as `action`: settings, disable, enable,
    /// max-running) with the value before and after, in the same transaction.
    public static func store(_ name: String, _ value: String, _ db: PostgresConnection, actor: OperatorActor, action: String = "settings") throws {
        try db.transaction { tx in
            try tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\("conveyor_settings:" + name), 0))")
            let before = try tx.query("SELECT value FROM conveyor_settings WHERE name = \(name)").first?["value"].optionalString()
            try store(name, value, tx)
            let after = try tx.query("SELECT value FROM conveyor_settings WHERE name = \(name)").first?["value"].optionalString()
            let changes = JSONObject(fields: [.init(key: name, value: AuditLog.change(before.map { .string($0) } ?? .null, after.map { .string($0) } ?? .null))])
            try AuditLog.record(tx, actor: actor, action: action, migrationID: nil, target: "setting \(name)", changes: .object(changes))
        }
    }
}
