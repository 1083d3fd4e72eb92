import ConveyorQueue

/// Wiring of the migrations library into a worker.
public enum ConveyorMigrations {
    /// Adds `BackgroundMigrationWorker` and the batched migration execution job.
    public static func register(into jobs: inout JobRegistry, backgroundMigrations: BackgroundMigrationRegistry, batchedJobs: BatchedJobRegistry) {
        BackgroundMigrationWorker.register(into: &jobs, migrations: backgroundMigrations)
        BatchedMigrationExecutionJob.register(into: &jobs, batchedJobs: batchedJobs)
    }

    /// The services a worker runs: the batched migration scheduler, unless turned off or
    /// the worker does not serve the queue its batches run on.
    public static func workerServices(configuration: WorkerConfiguration, batchedJobs: BatchedJobRegistry, scheduler: Bool) -> [any WorkerService] {
        guard scheduler, configuration.queues.names.contains(BatchedMigrationScheduler.queue) else { return [] }
        return [BatchedMigrationScheduler()]
    }
}
