import ConveyorJSON
import ConveyorPlatform
import ConveyorRedis
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The worker thread that runs a schedule (`conveyor worker --schedule FILE`). Every process
/// running the same schedule plans the same ticks (`TickPlanner`) by the worker's clock,
/// corrected to the Redis server's, and sleeps on the stop signal until the next one; at a
/// tick each tries the claim script, which lets exactly one of them enqueue it — no leader,
/// so a process dying costs no tick. It publishes its entries' definitions for the CLI and
/// the web, and reloads the file when it changes: entries refused then are logged and keep
/// their previous definition, so a bad edit never stops the worker. Stops at quiet, as
/// Sidekiq's scheduler does (the other processes carry on).
public final class PeriodicScheduler: WorkerService {
    /// Where the schedule comes from: the file, the classes this worker runs, and how to
    /// read the file into the document `PeriodicSchedule` validates.
    public struct Source: Sendable {
        public let path: String
        public let knownClasses: Set<String>
        public let read: @Sendable (String) -> JSONValue

        public init(path: String, knownClasses: Set<String>, read: @escaping @Sendable (String) -> JSONValue) {
            self.path = path
            self.knownClasses = knownClasses
            self.read = read
        }
    }

    public let name = "periodic"
    let source: Source
    let initial: [PeriodicEntry]
    let publishInterval: Duration
    let fileCheckInterval: Duration

    public init(source: Source, entries: [PeriodicEntry], publishInterval: Duration = .seconds(60), fileCheckInterval: Duration = .seconds(5)) {
        self.source = source
        initial = entries
        self.publishInterval = publishInterval
        self.fileCheckInterval = fileCheckInterval
    }

    public func run(context: WorkerServiceContext) {
        var loop = Loop(scheduler: self, context: context)
        loop.run()
    }

    /// One run's state, owned by the scheduler thread.
    struct Loop {
        let scheduler: PeriodicScheduler
        let context: WorkerServiceContext
        let clock: WorkerClock
        let logger: Logger
        let outage: OutageLog
        var redis: RedisConnection?
        var entries: [PeriodicEntry]
        var baselines: [String: Int64] = [:]
        var wakes: [String: Int64] = [:]
        var fileStamp: FileStamp?
        var nextPublish = ContinuousClock.now
        var nextFileCheck: ContinuousClock.Instant

        init(scheduler: PeriodicScheduler, context: WorkerServiceContext) {
            self.scheduler = scheduler
            self.context = context
            clock = context.configuration.clock
            logger = context.logger
            outage = OutageLog(logger: context.logger, what: "Redis (periodic)")
            entries = scheduler.initial
            fileStamp = FileStamp(path: scheduler.source.path)
            nextFileCheck = .now + scheduler.fileCheckInterval
        }

        mutating func run() {
            logger.info("periodic jobs scheduled", metadata: ["entries": "\(entries.count)", "file": .string(scheduler.source.path)])
            defer { redis?.close() }
            while !context.isQuiet {
                do {
                    try step()
                    outage.recovered()
                } catch {
                    outage.failed(error)
                    context.sleep(for: outage.backoff)
                    continue
                }
                if ContinuousClock.now >= nextFileCheck {
                    nextFileCheck = .now + scheduler.fileCheckInterval
                    reloadIfChanged()
                }
                context.sleep(for: pause())
            }
        }

        /// Publishes when due, then claims every tick that is due.
        mutating func step() throws(RedisError) {
            let connection: RedisConnection
            if let redis {
                connection = redis
            } else {
                var configuration = context.configuration.redis
                configuration.clientName = "conveyor-periodic"
                connection = try RedisConnection(configuration)
                redis = connection
            }
            if ContinuousClock.now >= nextPublish {
                try PeriodicStore.publish(entries, on: connection)
                nextPublish = .now + scheduler.publishInterval
            }
            let unknown = entries.filter { $0.active && baselines[$0.name] == nil }.map(\.name)
            if !unknown.isEmpty {
                let last = try PeriodicStore.lastTicks(unknown, on: connection)
                for name in unknown { baselines[name] = TickPlanner.baseline(lastClaimed: last[name], now: clock.now()) }
            }
            for entry in entries where entry.active {
                guard let baseline = baselines[entry.name] else { continue }
                let plan = TickPlanner.plan(entry.cron, now: clock.now(), baseline: baseline)
                wakes[entry.name] = plan.wake
                guard let tick = plan.claim else { continue }
                let sentAt = clock.localNow()
                let (outcome, serverTime) = try PeriodicStore.claim(entry, tick: tick, baseline: baseline, missed: plan.missed, now: clock.now(), on: connection)
                clock.observe(server: serverTime, sentAt: sentAt, receivedAt: clock.localNow())
                baselines[entry.name] = outcome.baseline(afterClaiming: tick, previous: baseline)
                report(outcome, entry: entry, tick: tick, missed: plan.missed)
            }
        }

        func report(_ outcome: PeriodicStore.Outcome, entry: PeriodicEntry, tick: Int64, missed: Int) {
            var metadata: Logger.Metadata = ["periodic": .string(entry.name), "tick": "\(tick)"]
            if missed > 0 { metadata["missed"] = "\(missed)" }
            switch outcome {
            case .enqueued(let jid):
                metadata["class"] = .string(entry.className)
                metadata["jid"] = .string(jid)
                logger.info("periodic job enqueued", metadata: metadata)
            case .paused: logger.debug("periodic tick skipped: paused", metadata: metadata)
            case .duplicate(let holder):
                metadata["held_by"] = .string(holder)
                logger.info("periodic tick skipped: its unique job is still pending", metadata: metadata)
            case .taken: logger.trace("periodic tick claimed by another process", metadata: metadata)
            case .early: logger.debug("periodic tick early by the Redis server's clock; waiting", metadata: metadata)
            }
        }

        /// How long to sleep: until the next tick of any entry, the next publish or file check.
        func pause() -> Duration {
            let now = clock.now()
            var seconds = min((nextPublish - .now).seconds, (nextFileCheck - .now).seconds)
            for entry in entries where entry.active {
                if let wake = wakes[entry.name] { seconds = min(seconds, Double(wake) - now) }
            }
            return .milliseconds(Int64((max(0, seconds) * 1000).rounded(.up)) + 1)
        }

        /// Rereads the file when it changed: good entries replace theirs, refused ones keep
        /// their previous definition (each refusal logged on one line).
        mutating func reloadIfChanged() {
            let stamp = FileStamp(path: scheduler.source.path)
            guard stamp != fileStamp else { return }
            fileStamp = stamp
            let document = scheduler.source.read(scheduler.source.path)
            let schedule = PeriodicSchedule.parse(document: document, file: scheduler.source.path, knownClasses: scheduler.source.knownClasses)
            for error in schedule.errors {
                logger.error("schedule not applied", metadata: ["error": .string(error)])
            }
            if document["error"] != nil { return }
            let kept = entries.filter { schedule.refused.contains($0.name) }
            entries = schedule.entries + kept
            let names = Set(entries.map(\.name))
            baselines = baselines.filter { names.contains($0.key) }
            wakes = [:]
            nextPublish = .now
            logger.notice("schedule reloaded", metadata: [
                "entries": "\(entries.count)", "refused": "\(schedule.refused.count)", "file": .string(scheduler.source.path),
            ])
        }
    }
}

/// What tells a changed file: inode, size and modification time.
struct FileStamp: Equatable {
    let inode: UInt64
    let size: Int64
    let modified: Int64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}
