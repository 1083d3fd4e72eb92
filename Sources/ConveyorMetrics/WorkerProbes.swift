import ConveyorQueue
import ConveyorRedis

/// A worker's `/healthz` and `/readyz` (see `WorkerHealth` for the rules), served by its
/// `MetricsServer` on `--metrics-port`.
public final class WorkerProbes: Sendable {
    private let state: WorkerState
    private let staleAfter: Duration
    private let redis: RedisProbe

    public init(state: WorkerState, heartbeatInterval: Duration, redis: RedisConfiguration) {
        self.state = state
        staleAfter = WorkerHealth.staleAfter(heartbeatInterval: heartbeatInterval)
        self.redis = RedisProbe(redis)
    }

    public func liveness() -> WorkerHealth.Verdict {
        let since = state.sinceLastBeat
        return WorkerHealth.liveness(sinceLastBeat: since, staleAfter: staleAfter, redisError: redis.ping())
    }

    public func readiness() -> WorkerHealth.Verdict {
        WorkerHealth.readiness(registered: state.isRegistered, quiet: state.isQuiet, stopping: state.isStopping)
    }

    /// The probes as `MetricsServer` routes.
    public func reply(for path: String) -> MetricsServer.Reply? {
        let verdict: WorkerHealth.Verdict
        switch path {
        case "/healthz": verdict = liveness()
        case "/readyz": verdict = readiness()
        default: return nil
        }
        return MetricsServer.Reply(status: verdict.httpStatus, body: verdict.reason + "\n")
    }
}
