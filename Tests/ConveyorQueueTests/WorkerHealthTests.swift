import ConveyorJSON
import Testing

@testable import ConveyorQueue

@Suite("Health probes and Sidekiq 7/8 heartbeat fields")
struct WorkerHealthTests {
    @Test("live while the heartbeat is fresh and Redis answers")
    func liveness() {
        let stale = WorkerHealth.staleAfter(heartbeatInterval: .seconds(5))
        #expect(stale == .seconds(15))
        #expect(WorkerHealth.liveness(sinceLastBeat: .seconds(4), staleAfter: stale, redisError: nil) == .init(ok: true, reason: "ok"))
        #expect(WorkerHealth.liveness(sinceLastBeat: .seconds(15), staleAfter: stale, redisError: nil).ok)
        let old = WorkerHealth.liveness(sinceLastBeat: .seconds(16), staleAfter: stale, redisError: nil)
        #expect(!old.ok && old.httpStatus == 503 && old.reason.contains("stale"))
        let down = WorkerHealth.liveness(sinceLastBeat: .seconds(1), staleAfter: stale, redisError: "Connection refused")
        #expect(!down.ok && down.reason == "redis does not answer: Connection refused")
    }

    @Test("ready only when registered and neither quiet nor stopping", arguments: [
        (true, false, false, true), (false, false, false, false), (true, true, false, false),
        (true, true, true, false), (false, true, true, false), (true, false, true, false),
    ])
    func readiness(registered: Bool, quiet: Bool, stopping: Bool, ready: Bool) {
        let verdict = WorkerHealth.readiness(registered: registered, quiet: quiet, stopping: stopping)
        #expect(verdict.ok == ready)
        #expect(verdict.httpStatus == (ready ? 200 : 503))
    }

    @Test("a new worker state is unregistered; a beat registers it and resets its age")
    func beats() {
        let state = WorkerState(identity: "h:1:x", concurrency: 2)
        #expect(!state.isRegistered)
        state.recordBeat()
        #expect(state.isRegistered)
        #expect(state.sinceLastBeat < .seconds(5))
        #expect(state.runningProcessorCount == 2)
        state.processors[0].finished.store(true, ordering: .relaxed)
        #expect(state.runningProcessorCount == 1)
    }

    @Test("capsule mode, weights and the default capsule as Sidekiq 7 and 8 write them")
    func capsules() throws {
        let strict = try QueueSelector(specs: ["critical", "default"])
        #expect(strict.sidekiqMode == "strict")
        #expect(JSONValue.object(strict.sidekiqWeights) == ["critical": 0, "default": 0])
        #expect(try QueueSelector(specs: ["a,1", "b,1"]).sidekiqMode == "random")
        let weighted = try QueueSelector(specs: ["a,3", "b,1"])
        #expect(weighted.sidekiqMode == "weighted")
        #expect(weighted.sidekiqCapsules(concurrency: 7) == ["default": ["concurrency": 7, "mode": "weighted", "weights": ["a": 3, "b": 1]]])
    }
}
