/// The answers of a worker's `/healthz` (liveness) and `/readyz` (readiness), as pure
/// decisions over what the process knows, so every case is tested without a server.
///
/// - Live while the heartbeat is fresh (it succeeded within `staleAfter`, three heartbeat
///   intervals by default, or the process is younger than that) and Redis answers a PING now.
/// - Ready once the first heartbeat registered the process and while it is not quiet, so
///   a quieted (TSTP, Sidekiq's Quiet button, the Kubernetes preStop hook) or stopping
///   worker drops out of readiness before it goes away.
public enum WorkerHealth {
    public struct Verdict: Sendable, Equatable {
        public let ok: Bool
        /// One line for the response body, e.g. `ok` or why not.
        public let reason: String

        public init(ok: Bool, reason: String) {
            self.ok = ok
            self.reason = reason
        }

        public var httpStatus: Int { ok ? 200 : 503 }
    }

    public static func staleAfter(heartbeatInterval: Duration) -> Duration { heartbeatInterval * 3 }

    public static func liveness(sinceLastBeat: Duration, staleAfter: Duration, redisError: String?) -> Verdict {
        if let redisError { return Verdict(ok: false, reason: "redis does not answer: \(redisError)") }
        guard sinceLastBeat <= staleAfter else {
            return Verdict(ok: false, reason: "heartbeat is stale: last success \(Int(sinceLastBeat.seconds)) s ago")
        }
        return Verdict(ok: true, reason: "ok")
    }

    public static func readiness(registered: Bool, quiet: Bool, stopping: Bool) -> Verdict {
        if stopping { return Verdict(ok: false, reason: "stopping") }
        if quiet { return Verdict(ok: false, reason: "quiet: not fetching new jobs") }
        if !registered { return Verdict(ok: false, reason: "starting: not registered in Redis yet") }
        return Verdict(ok: true, reason: "ok")
    }
}
