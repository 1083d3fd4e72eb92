import ConveyorMetrics
import Dispatch
import Hummingbird

/// `/healthz` and `/readyz` of the web process: 200 while Redis answers a PING, 503 with
/// the reason otherwise (the web has no heartbeat of its own; without Redis it can serve
/// nothing but error pages). They need no password, so Kubernetes can probe them, and say
/// nothing beyond "ok" or what is unavailable.
struct HealthRoutes: Sendable {
    let probe: RedisProbe

    func reply() async -> Response {
        let probe = self.probe
        // PING blocks: run it off the cooperative pool.
        let failure: String? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: probe.ping()) }
        }
        let (status, text): (HTTPResponse.Status, String) = failure.map { (.serviceUnavailable, "redis does not answer: \($0)\n") } ?? (.ok, "ok\n")
        return Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
