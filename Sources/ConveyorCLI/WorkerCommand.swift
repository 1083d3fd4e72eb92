import ArgumentParser
import ConveyorMetrics
import ConveyorMigrations
import ConveyorPlatform
import ConveyorQueue
#if canImport(Glibc)
import Glibc
#endif
import Logging

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run jobs from Redis queues until stopped.",
        discussion: """
            Jobs are fetched reliably: each job waits in a working list of this process
            until it has finished, and is acknowledged the moment it finishes, so a
            crash (even kill -9) loses nothing and runs again only the jobs that were
            running. Another worker pushes a dead process's jobs back once its lease
            lapses: within --lease + --rescue-interval seconds (25 by default).

            Signals: TSTP = quiet (finish running jobs, fetch no more); TERM or INT =
            stop fetching, wait up to --timeout for running jobs, push unfinished ones
            back, exit 0. Sidekiq's Web UI "Quiet" and "Stop" buttons work too.

            With no -q, the worker serves default, background_migration and
            batched_background_migrations with equal weight.

            Sidekiq's Metrics page (Sidekiq 7.3 and 8.x Web UI) shows this worker's
            job classes: executions, failures, time and a latency histogram, counted
            in memory and written to Redis about once a second in both versions'
            formats. --no-sidekiq-metrics turns that off.

            --schedule FILE runs periodic jobs from a schedule file in sidekiq-cron's
            schedule.yml format (name: {cron, class, queue, args, description, active}).
            Any number of processes may run the same file: each tick is enqueued exactly
            once, by whichever process claims it first; a missed tick is enqueued once
            after downtime. The file is reread when it changes; `conveyor cron` lists,
            pauses, resumes and runs entries.

            --metrics-port also answers GET /healthz (200 while the heartbeat is
            fresh and Redis answers, else 503) and GET /readyz (200 once registered
            in Redis and while not quiet), for Kubernetes probes.
            """)

    @Option(name: [.customShort("c"), .long], help: "Processor threads (jobs run at once).")
    var concurrency = 10

    @Option(name: [.customShort("q"), .customLong("queue")], help: ArgumentHelp(
        "A queue to serve, optionally with a weight: -q critical,3 -q default,1. Repeat for more; without weights the order is strict.",
        valueName: "QUEUE[,WEIGHT]"))
    var queues: [String] = []

    @Option(help: "Run this many worker processes under a supervisor that restarts any that dies.")
    var processes: Int?

    @Option(help: "Seconds to wait for running jobs on shutdown before pushing them back.")
    var timeout: Double = 25

    @Option(help: "Seconds this process's liveness lease lasts; renewed by every heartbeat (every 5 s, or a quarter of the lease if shorter).")
    var lease: Double = 20

    @Option(help: "Seconds between looks for the jobs of dead processes.")
    var rescueInterval: Double = 5

    @Option(help: "A tag shown in Sidekiq's Web UI process list.")
    var tag: String = ""

    @Option(help: "Serve this process's Prometheus metrics (GET /metrics) and health probes (GET /healthz, /readyz) on this port.")
    var metricsPort: Int?

    @Flag(help: "Do not write Sidekiq's execution metrics (the Web UI's Metrics page) for the jobs this process runs.")
    var noSidekiqMetrics = false

    @Flag(help: "Do not run the batched background migration scheduler in this process.")
    var noScheduler = false

    @Option(help: ArgumentHelp("Run the periodic jobs of this schedule file (sidekiq-cron's schedule.yml format; see conveyor cron --help).", valueName: "FILE"))
    var schedule: String?

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let processes { guard (1...256).contains(processes) else { throw ValidationError("--processes must be between 1 and 256") } }
        if metricsPort != nil, processes != nil {
            throw ValidationError("--metrics-port cannot be combined with --processes (each process would need its own port); scrape conveyor web /metrics, or run processes separately")
        }
        if let metricsPort { guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0-65535") } }
        guard (1...1000).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 1000") }
        guard timeout >= 0 else { throw ValidationError("--timeout must be ≥ 0 seconds") }
        guard lease >= 1 else { throw ValidationError("--lease must be at least 1 second") }
        guard rescueInterval >= 0.1 else { throw ValidationError("--rescue-interval must be at least 0.1 seconds") }
    }

    func run() throws {
        // Refused at start, one line per bad entry, before any process runs.
        let periodic = try schedule.map { path in try loadSchedule(path) }
        if let processes {
            try supervise(processes)
            return
        }
        SupervisedChild.bindToSupervisor()
        let selector: QueueSelector
        do {
            selector = try QueueSelector(specs: queues.isEmpty ? WorkerConfiguration.defaultQueues : queues)
        } catch {
            throw ValidationError(String(describing: error))
        }
        let logger = try connection.logger("conveyor.worker", output: .standardOutput)
        var configuration = WorkerConfiguration(
            redis: try connection.redisConfiguration(), postgres: connection.postgresConfiguration(),
            queues: selector, concurrency: concurrency, shutdownTimeout: .milliseconds(Int64(timeout * 1000)), tag: tag,
            heartbeatInterval: .milliseconds(Int64(min(5, lease / 4) * 1000)),
            leaseDuration: .milliseconds(Int64(lease * 1000)), recoveryInterval: .milliseconds(Int64(rescueInterval * 1000)))
        let observer = metricsPort.map { _ in PrometheusJobObserver() }
        let sidekiqMetrics = noSidekiqMetrics ? nil : ExecutionMetricsRecorder()
        let observers: [(any JobObserver)?] = [observer, sidekiqMetrics]
        configuration.observer = CompositeJobObserver.combining(observers.compactMap { $0 })
        let registry = CLIRuntime.registry
        var services = ConveyorMigrations.workerServices(configuration: configuration, batchedJobs: CLIRuntime.extensions.batchedJobs, scheduler: !noScheduler)
        if let sidekiqMetrics { services.append(ExecutionMetricsService(recorder: sidekiqMetrics)) }
        if let periodic { services.append(periodic) }
        let worker = Worker(configuration: configuration, registry: registry, logger: logger, services: services)
        var metricsServer: MetricsServer?
        if let metricsPort, let observer {
            let state = worker.state
            let concurrency = configuration.concurrency
            let probes = WorkerProbes(state: state, heartbeatInterval: configuration.heartbeatInterval, redis: configuration.redis)
            do {
                metricsServer = try MetricsServer(port: metricsPort, logger: logger, render: {
                    ClusterMetrics.renderWorker(state: state, concurrency: concurrency, observer: observer)
                }, routes: probes.reply(for:))
            } catch {
                throw CLIError(message: "cannot serve metrics on port \(metricsPort): \(error)")
            }
        }
        let signals = worker.installSignalHandlers()
        let code = worker.run()
        _ = signals
        _ = metricsServer
        throw ExitCode(code)
    }

    /// Reads and validates the schedule file for this worker's classes.
    func loadSchedule(_ path: String) throws -> PeriodicScheduler {
        let classes = Set(CLIRuntime.registry.classNames)
        let schedule = ScheduleFileReader.schedule(path, knownClasses: classes)
        guard schedule.errors.isEmpty else { throw CLIError(message: schedule.errors.joined(separator: "\n")) }
        return PeriodicScheduler(
            source: PeriodicScheduler.Source(path: path, knownClasses: classes, read: ScheduleFileReader.read), entries: schedule.entries)
    }

    /// `--processes N`: re-runs this command N times (without `--processes`) and keeps the
    /// children running; TSTP is forwarded, TERM/INT stop them all and wait.
    func supervise(_ count: Int) throws {
        let logger = try connection.logger("conveyor.supervisor", output: .standardOutput)
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let index = arguments.firstIndex(of: "--processes") {
            arguments.removeSubrange(index...min(index + 1, arguments.count - 1))
        }
        arguments.removeAll { $0.hasPrefix("--processes=") }
        let supervisor = ProcessSupervisor(
            executable: ProcessSupervisor.currentExecutable, arguments: arguments, count: count,
            stopGrace: .milliseconds(Int64(timeout * 1000)) + .seconds(15)
        ) { event in
            switch event.kind {
            case .exited, .killed: logger.warning("\(event.message)")
            default: logger.notice("\(event.message)")
            }
        }
        let signals = SignalListener(signals: [SIGTERM, SIGINT, SIGTSTP, SIGTTIN]) { signal in
            switch signal {
            case SIGTSTP, SIGTTIN: supervisor.forward(signal)
            default: supervisor.stop()
            }
        }
        logger.notice("supervising \(count) worker processes", metadata: ["pid": "\(getpid())"])
        let code = supervisor.run()
        _ = signals
        logger.notice("all worker processes stopped", metadata: ["status": "\(code)"])
        throw ExitCode(code)
    }
}
