import ConveyorPlatform
// The `conveyor` command line plus the jobs scripts/bench needs; the Ruby side defines
// the same jobs for Sidekiq (Benchmarks/sidekiq/jobs.rb), so both run identical work.
import ConveyorCLI
import ConveyorJSON
import ConveyorMigrations
import ConveyorQueue
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Records when it ran: the last job of a throughput run.
struct MarkJob: Job {
    static let className = "MarkJob"
    init(arguments: [JSONValue]) {}
    func perform(context: JobContext) throws {
        try context.redis.command("SET", "bench:done", Date().timeIntervalSince1970)
    }
}

/// Records `now - args[0]` (seconds): enqueue-to-start or schedule lateness.
struct LatencyJob: Job {
    static let className = "LatencyJob"
    let since: Double
    init(arguments: [JSONValue]) { since = arguments.first?.doubleValue ?? 0 }
    func perform(context: JobContext) throws {
        try context.redis.command("RPUSH", "bench:latency", Date().timeIntervalSince1970 - since)
    }
}

/// A non-batched migration that does nothing, to measure steal's own overhead.
struct NoopMigration: BackgroundMigration {
    static let className = "NoopMigration"
    init() {}
    func perform(arguments: [JSONValue], context: BackgroundMigrationContext) {}
}

if CommandLine.arguments.dropFirst().first == "upsert-loop" {
    let arguments = CommandLine.arguments
    try UpsertLoop.run(
        threads: arguments.count > 2 ? Int(arguments[2]) ?? 10 : 10, count: arguments.count > 3 ? Int(arguments[3]) ?? 20_000 : 20_000,
        url: ProcessEnvironment["DATABASE_URL"] ?? "")
    exit(0)
}

if CommandLine.arguments.dropFirst().first == "observer-cost" {
    ObserverCost.run()
    exit(0)
}

var jobs = JobRegistry.builtIn
jobs.register(MarkJob.self)
jobs.register(LatencyJob.self)
var migrations = BackgroundMigrationRegistry.builtIn
migrations.register(NoopMigration.self)
await ConveyorCLI.main(registry: jobs, backgroundMigrations: migrations)
