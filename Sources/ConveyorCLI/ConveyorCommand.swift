import ArgumentParser
import ConveyorQueue

/// `conveyor`: the root command. A user's own executable reuses it with extra jobs:
///
///     var registry = JobRegistry.builtIn
///     registry.register(SendEmail.self)
///     await ConveyorCLI.main(registry: registry)
public enum ConveyorCLI {
    public static func main(registry: JobRegistry = .builtIn, arguments: [String]? = nil) async {
        CLIRuntime.registryStorage.withLock { $0 = registry }
        await ConveyorCommand.main(arguments)
    }

    /// Adds worker services (e.g. the batched migration scheduler) for `conveyor worker`.
    public static func addWorkerServices(_ make: @escaping @Sendable (WorkerConfiguration, JobRegistry) -> [any WorkerService]) {
        CLIRuntime.servicesStorage.withLock { $0.append(make) }
    }
}

struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "A Sidekiq-compatible job queue and worker with GitLab-style background migrations.",
        discussion: """
            Configuration comes from the environment:
              REDIS_URL      redis://[user:password@]host:port/db (default redis://127.0.0.1:6379/0)
              DATABASE_URL   postgres://user:password@host:port/db or a libpq conninfo string;
                             libpq's PG* variables work when it is unset
              REDIS_SENTINELS, REDIS_SENTINEL_MASTER   host:port,... and master name for Sentinel
            """,
        version: ConveyorVersion.string,
        subcommands: [
            WorkerCommand.self, EnqueueCommand.self, StatsCommand.self,
        ])
}
