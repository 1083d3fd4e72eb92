import ArgumentParser
import ConveyorJSON
import ConveyorQueue

/// `conveyor cron …`: the periodic jobs that workers run with `--schedule FILE`.
struct CronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "List, pause, resume and run the periodic jobs of `conveyor worker --schedule FILE`.",
        discussion: """
            A schedule file has sidekiq-cron's schedule.yml format, one entry per name:

              nightly_report:
                cron: "0 3 * * * Europe/Berlin"   # 5 fields, 6 with seconds first,
                class: "ReportJob"                #   or @hourly/@daily/@weekly/...
                queue: reports                    # default: default
                args: [42, "full"]                # or a hash (one argument)
                description: "The nightly report"
                active: true                      # false: listed, never run
                # also: retry, unique_for, unique_until, date_as_argument, status

            Entries are published to Redis by the workers that run them; these commands
            act on what the workers published, shared by every process: a paused entry
            is paused in all of them.
            """,
        subcommands: [CronListCommand.self, CronEnqueueCommand.self, CronPauseCommand.self, CronResumeCommand.self, CronCheckCommand.self])
}

struct CronListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show every periodic entry: expression, next and last run, state.",
        discussion: "Times are UTC. STATE is active, paused (conveyor cron pause) or inactive (active: false in the file); 'stale' marks entries no running worker has published for 3 minutes.")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let redis = try connection.redis()
            let now = Timestamp.now()
            let statuses = try PeriodicStatus.all(on: redis, now: now)
            if json {
                printJSON(.array(statuses.map(\.json)))
                return
            }
            guard !statuses.isEmpty else {
                print("No periodic jobs: no worker has published a schedule (conveyor worker --schedule FILE).")
                return
            }
            let rows = statuses.map { status -> [String] in
                [
                    status.name, status.entry?.cron.source ?? "?", status.entry?.className ?? "?",
                    status.nextTick.map { CronTime.format(Double($0), now: now) } ?? "-",
                    status.lastTick.map { CronTime.format(Double($0), now: now) } ?? "never",
                    status.state + (status.isStale(now: now) ? " (stale)" : ""),
                ]
            }
            printTable(["NAME", "CRON", "CLASS", "NEXT RUN", "LAST RUN", "STATE"], rows)
        }
    }
}

struct CronEnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue an entry's job now, outside its schedule (its ticks are unchanged).",
        discussion: "Prints the job id. A unique entry whose lock is held enqueues nothing and exits 3.")

    @Argument(help: "The entry's name (conveyor cron list shows them).")
    var name: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let redis = try connection.redis()
            guard let entry = try PeriodicStore.entry(name, on: redis) else { throw CronCommandError.unknown(name) }
            switch try PeriodicStore.enqueueNow(entry, now: Timestamp.now(), on: redis) {
            case .enqueued(let jid): print(jid)
            case .duplicate(let holder, let left):
                try UniqueReport.refuse(className: entry.className, holder: holder, expiresIn: left)
            }
        }
    }
}

struct CronPauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause an entry in every process: its ticks pass without enqueuing until resumed.")

    @Argument(help: "The entry's name.")
    var name: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            guard try PeriodicStore.setPaused(name, true, on: try connection.redis()) else { throw CronCommandError.unknown(name) }
            print("paused \(name)")
        }
    }
}

struct CronResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused entry in every process, from its next tick (ticks passed while paused are not made up).")

    @Argument(help: "The entry's name.")
    var name: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            guard try PeriodicStore.setPaused(name, false, on: try connection.redis()) else { throw CronCommandError.unknown(name) }
            print("resumed \(name)")
        }
    }
}

struct CronCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a schedule file as `conveyor worker --schedule` would, and show each entry's next run.",
        discussion: "Exits 1 with one line per refused entry (file:line: entry 'name': reason). Needs no Redis.")

    @Argument(help: "The schedule file.")
    var file: String

    /// Accepted like on every command (this one writes no log lines).
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let schedule = ScheduleFileReader.schedule(file, knownClasses: Set(CLIRuntime.registry.classNames))
        guard schedule.errors.isEmpty else { throw CLIError(message: schedule.errors.joined(separator: "\n")) }
        let now = Timestamp.now()
        printTable(["NAME", "CRON", "CLASS", "QUEUE", "NEXT RUN", "ACTIVE"], schedule.entries.map { entry in
            [entry.name, entry.cron.source, entry.className, entry.queue,
             entry.cron.nextTick(after: now).map { CronTime.format(Double($0), now: now) } ?? "never", entry.active ? "yes" : "no"]
        })
    }
}

enum CronCommandError {
    static func unknown(_ name: String) -> CLIError {
        CLIError(message: "no periodic entry named '\(name)' (conveyor cron list shows the entries running workers publish)")
    }
}

/// `2026-12-01 09:05:00 (in 35 s)`, UTC.
enum CronTime {
    static func format(_ seconds: Double, now: Double) -> String {
        let time = CivilTime(localSeconds: Int64(seconds.rounded(.down))).description
        let delta = seconds - now
        return delta >= 0 ? "\(time) (in \(formatDuration(delta)))" : "\(time) (\(formatDuration(-delta)) ago)"
    }
}

/// What a refused unique push says: one line on stderr, exit status 3.
enum UniqueReport {
    static func duplicate(className: String, holder: String, expiresIn: Double) -> String {
        "not enqueued: a unique \(className) job with these arguments is pending (jid \(holder.isEmpty ? "?" : holder)); its lock lapses in \(formatDuration(expiresIn)) at the latest"
    }

    static func refuse(className: String, holder: String, expiresIn: Double) throws -> Never {
        writeToStandardError(duplicate(className: className, holder: holder, expiresIn: expiresIn) + "\n")
        throw ExitCode(3)
    }
}

/// Prints rows under a header, columns padded to their widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    for row in [header] + rows {
        print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.rightPadded(widths[i]) }.joined(separator: "  "))
    }
}
