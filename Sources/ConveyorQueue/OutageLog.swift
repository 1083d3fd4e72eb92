import ConveyorPlatform
import ConveyorRedis
import Logging

/// Logs the start and end of an outage once each, instead of once per failed attempt,
/// and grows the pause between attempts (`backoff`, 100 ms doubling to 5 s).
final class OutageLog {
    private let logger: Logger
    private let what: String
    private var since: ContinuousClock.Instant?
    private var pauses = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
    /// The pause to take before the next attempt.
    private(set) var backoff: Duration = .milliseconds(100)

    init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    func failed(_ error: any Error) {
        if since == nil {
            since = .now
            logger.error("\(what) unavailable, retrying", metadata: ["error": "\(error)"])
        }
        backoff = pauses.next()
    }

    func recovered() {
        guard let since else { return }
        logger.notice("\(what) is back", metadata: ["downtime": "\(String(cFormat: "%.1f", (ContinuousClock.now - since).seconds))s"])
        self.since = nil
        pauses.reset()
        backoff = pauses.current
    }
}
