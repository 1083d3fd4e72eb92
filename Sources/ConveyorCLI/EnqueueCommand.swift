import ArgumentParser
import ConveyorJSON
import ConveyorQueue

struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Push a job (or many) in Sidekiq's format.",
        discussion: """
            Examples:
              conveyor enqueue NoopJob
              conveyor enqueue SleepJob '[250]' --queue slow --in 60
              conveyor enqueue RecordJob '["k1"]' --retry 3
              conveyor enqueue NoopJob --count 100000        # bulk push for load tests
              conveyor enqueue RecordJob '["k1"]' --unique-for 600
            Prints the job id (one per line with --count up to 10, a summary beyond).

            --unique-for SECONDS makes the job unique (Sidekiq Enterprise's unique_for):
            the push takes a lock on its class, queue and args, held until the job
            succeeds or dies (--unique-until start: until it starts) and at most SECONDS
            (plus the delay of --in/--at). While another copy holds the lock nothing is
            enqueued: the command says so on stderr and exits 3.
            """)

    @Argument(help: "The job class, as registered in the worker (e.g. NoopJob).")
    var className: String

    @Argument(help: "Arguments as a JSON array.")
    var argsJSON: String = "[]"

    @Option(help: "Queue name.")
    var queue = "default"

    @Option(name: .customLong("in"), help: "Run this many seconds from now.")
    var delay: Double?

    @Option(name: .customLong("at"), help: "Run at this epoch time (seconds).")
    var at: Double?

    @Option(help: "Retries: a number, true (25) or false (no retry, no dead set).")
    var retry: String = "true"

    @Option(help: "How many copies to push (each gets its own jid).")
    var count = 1

    @Option(help: ArgumentHelp("Enqueue only if no job of this class, queue and args holds the unique lock; hold it at most this long.", valueName: "SECONDS"))
    var uniqueFor: Double?

    @Option(help: ArgumentHelp("When the worker releases the unique lock: success (or death, the default) or start.", valueName: "success|start"))
    var uniqueUntil: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard !className.isEmpty else { throw ValidationError("CLASS must not be empty") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard delay == nil || at == nil else { throw ValidationError("give --in or --at, not both") }
        guard RetrySetting(argument: retry) != nil else { throw ValidationError("--retry must be a number ≥ 0, true or false") }
        _ = try QueueSelector(specs: [queue])
        if let uniqueFor {
            guard count == 1 else { throw ValidationError("--unique-for pushes one job; leave out --count") }
            do { _ = try unique(uniqueFor) } catch { throw ValidationError("--unique-for: \(error)") }
        } else if uniqueUntil != nil {
            throw ValidationError("--unique-until needs --unique-for SECONDS")
        }
    }

    func unique(_ seconds: Double) throws -> UniqueOptions {
        guard let until = UniqueOptions.Until(rawValue: uniqueUntil ?? "success") else {
            throw UniqueOptions.Invalid("--unique-until must be success or start")
        }
        return try UniqueOptions(seconds: seconds, until: until)
    }

    func run() throws {
        let args = try parseJSONArray(argsJSON, what: "ARGS_JSON")
        let retrySetting = RetrySetting(argument: retry)!
        let runAt = at ?? delay.map { Timestamp.now() + $0 }
        try reportingErrors {
            let client = QueueClient(redis: try connection.redis())
            if let uniqueFor {
                let payload = JobPayload(className: className, args: args, queue: queue, retry: retrySetting)
                switch try client.pushUnique(payload, unique: try unique(uniqueFor), at: runAt) {
                case .enqueued(let jid):
                    if json { printJSON(["queue": .string(queue), "count": 1, "jids": [.string(jid)], "scheduled_at": runAt.map { JSONValue($0) } ?? nil, "enqueued": true]) } else { print(jid) }
                case .duplicate(let holder, let left):
                    if json { printJSON(["queue": .string(queue), "count": 0, "jids": [], "enqueued": false, "held_by": .string(holder), "lock_expires_in": JSONValue(left)]) }
                    try UniqueReport.refuse(className: className, holder: holder, expiresIn: left)
                }
                return
            }
            let payloads = (0..<count).map { _ in JobPayload(className: className, args: args, queue: queue, retry: retrySetting) }
            let start = ContinuousClock.now
            if let runAt, runAt > Timestamp.now() {
                try client.scheduleBulk(payloads.map { ($0, runAt) })
            } else {
                try client.pushBulk(payloads)
            }
            let elapsed = (ContinuousClock.now - start).seconds
            if json {
                var result: JSONValue = ["queue": .string(queue), "count": JSONValue(count), "seconds": JSONValue(elapsed)]
                if count <= 10 { result = ["queue": .string(queue), "count": JSONValue(count), "jids": .array(payloads.map { .string($0.jid) }), "scheduled_at": runAt.map { JSONValue($0) } ?? nil] }
                printJSON(result)
            } else if count <= 10 {
                for payload in payloads { print(payload.jid) }
            } else {
                print("enqueued \(count) \(className) jobs to \(runAt == nil ? "queue '\(queue)'" : "the schedule") in \(formatDuration(elapsed)) (\(Int(Double(count) / max(elapsed, 1e-9))) jobs/s)")
            }
        }
    }
}
