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
            Prints the job id (one per line with --count up to 10, a summary beyond).
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

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard !className.isEmpty else { throw ValidationError("CLASS must not be empty") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard delay == nil || at == nil else { throw ValidationError("give --in or --at, not both") }
        guard RetrySetting(argument: retry) != nil else { throw ValidationError("--retry must be a number ≥ 0, true or false") }
        _ = try QueueSelector(specs: [queue])
    }

    func run() throws {
        let args = try parseJSONArray(argsJSON, what: "ARGS_JSON")
        let retrySetting = RetrySetting(argument: retry)!
        let runAt = at ?? delay.map { Timestamp.now() + $0 }
        try reportingErrors {
            let client = QueueClient(redis: try connection.redis())
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
