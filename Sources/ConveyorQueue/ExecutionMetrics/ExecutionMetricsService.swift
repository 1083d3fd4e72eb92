import ConveyorPlatform
import ConveyorRedis
import Logging

/// Writes the recorder's counts into Sidekiq's metrics keys about once a second, on a
/// thread and Redis connection of its own, so the processors never wait for it. After a
/// stop it keeps flushing until the last processor has returned, then flushes once more:
/// every job a worker finished is counted, the last ones included.
public struct ExecutionMetricsService: WorkerService {
    public let name = "sidekiq-metrics"
    public let recorder: ExecutionMetricsRecorder
    public var interval: Duration

    public init(recorder: ExecutionMetricsRecorder, interval: Duration = .seconds(1)) {
        self.recorder = recorder
        self.interval = interval
    }

    public func run(context: WorkerServiceContext) {
        var configuration = context.configuration.redis
        configuration.clientName = "conveyor-metrics"
        var redis: RedisConnection?
        let outage = OutageLog(logger: context.logger, what: "Redis (Sidekiq metrics)")
        var flush = ExecutionMetricsFlush()

        func flushOnce() {
            let tally = recorder.drain()
            guard !tally.isEmpty else { return }
            let (commands, next) = flush.plan(tally, at: Timestamp.now())
            do {
                let connection = try redis ?? RedisConnection(configuration)
                redis = connection
                for reply in try connection.pipeline(commands) {
                    if let error = reply.error { throw error }
                }
                flush = next
                outage.recovered()
            } catch {
                recorder.giveBack(tally)
                outage.failed(error)
            }
        }

        while !context.isStopping {
            context.state.signal.sleep(for: interval, orUntil: .stopping)
            flushOnce()
        }
        // Running jobs finish (for up to --timeout) after the stop; count them too.
        while context.state.runningProcessorCount > 0 {
            blockingSleep(min(interval, .milliseconds(250)))
            flushOnce()
        }
        flushOnce()
    }
}
