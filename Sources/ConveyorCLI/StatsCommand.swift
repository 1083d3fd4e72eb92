import ArgumentParser
import ConveyorJSON
import ConveyorQueue

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show processed/failed counts, queues, scheduled, retries, dead and processes.")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try reportingErrors {
            let api = QueueAPI(redis: try connection.redis())
            let stats = try api.stats()
            if json {
                printJSON([
                    "processed": JSONValue(stats.processed), "failed": JSONValue(stats.failed),
                    "enqueued": JSONValue(stats.enqueued), "scheduled": JSONValue(stats.scheduled),
                    "retries": JSONValue(stats.retries), "dead": JSONValue(stats.dead),
                    "processes": JSONValue(stats.processes), "busy": JSONValue(stats.busy),
                    "queues": .array(stats.queues.map { ["name": .string($0.name), "size": JSONValue($0.size), "latency": JSONValue($0.latency)] }),
                ])
                return
            }
            print("Processed: \(stats.processed)")
            print("Failed:    \(stats.failed)")
            print("Enqueued:  \(stats.enqueued)")
            print("Scheduled: \(stats.scheduled)")
            print("Retries:   \(stats.retries)")
            print("Dead:      \(stats.dead)")
            print("Processes: \(stats.processes)")
            print("Busy:      \(stats.busy)")
            print("")
            if stats.queues.isEmpty {
                print("No queues.")
            } else {
                let width = max(5, stats.queues.map(\.name.count).max() ?? 5)
                print("QUEUE".rightPadded(width) + "  " + "SIZE".leftPadded(10) + "  LATENCY")
                for queue in stats.queues {
                    print(queue.name.rightPadded(width) + "  " + String(queue.size).leftPadded(10) + "  " + formatDuration(queue.latency))
                }
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    func rightPadded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
