import ArgumentParser
import ConveyorMigrations
import ConveyorQueue

/// `conveyor`: the root command. A user's own executable reuses it with extra jobs:
///
///     var registry = JobRegistry.builtIn
///     registry.register(SendEmail.self)
///     await ConveyorCLI.main(registry: registry)
public enum ConveyorCLI {
    /// Runs the CLI with these jobs, non-batched migrations and batched migration jobs
    /// (each defaults to the built-ins; pass a registry that extends `.builtIn`).
    public static func main(
        registry: JobRegistry = .builtIn, backgroundMigrations: BackgroundMigrationRegistry = .builtIn,
        batchedJobs: BatchedJobRegistry = .builtIn, arguments: [String]? = nil
    ) async {
        CLIRuntime.storage.withLock {
            $0 = CLIRuntime.Extensions(jobs: registry, backgroundMigrations: backgroundMigrations, batchedJobs: batchedJobs)
        }
        await ConveyorCommand.main(arguments)
    }
}

struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "A Sidekiq-compatible job queue and worker with GitLab-style background migrations.",
        discussion: """
            Configuration comes from the environment:
            REDIS_URL: redis://[user:password@]host:port/db
              (default redis://127.0.0.1:6379/0)
            DATABASE_URL: postgres://user:password@host:port/db or a libpq
              conninfo string; libpq's PG* variables work when it is unset
            REDIS_SENTINELS, REDIS_SENTINEL_MASTER: sentinels (host:port,...)
              and the master's name, to find Redis through Sentinel
            CONVEYOR_WEB_PASSWORD: required by `conveyor web` off loopback
            CONVEYOR_LOG_LEVEL, CONVEYOR_LOG_FORMAT: like --log-level and
              --log-format (text or json: one JSON object per log line)
            """,
        version: ConveyorVersion.string,
        subcommands: [
            WorkerCommand.self, EnqueueCommand.self, StatsCommand.self,
            RemainingCommand.self, StealCommand.self, PendingCommand.self, EnqueueRangeCommand.self,
            MigrationsCommand.self, CronCommand.self, WebCommand.self, QuietCommand.self,
        ])
}
