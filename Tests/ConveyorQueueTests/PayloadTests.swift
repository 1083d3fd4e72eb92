import ConveyorJSON
import Testing

@testable import ConveyorQueue

@Suite("Job payloads")
struct PayloadTests {
    @Test("a payload from Ruby's client decodes, and unknown fields round-trip verbatim")
    func decodeRuby() throws {
        let raw = #"{"retry":true,"queue":"default","class":"HardWorker","args":[4,{"a":"b"}],"jid":"03d4a1e0b5c9f2e7a1b3c5d7","created_at":1795612739.6400192,"enqueued_at":1795612739.64004,"tags":["x"],"wrapped":"Mailer"}"#
        guard case .success(let payload) = JobPayload.decode(Array(raw.utf8)) else { Issue.record("should decode"); return }
        #expect(payload.className == "HardWorker")
        #expect(payload.displayClass == "Mailer")
        #expect(payload.args == [4, ["a": "b"]])
        #expect(payload.retry == .enabled)
        #expect(payload.enqueuedAt == 1_795_612_739.64004)
        #expect(payload.json == raw)
    }

    @Test("timestamps read as float seconds and as Sidekiq 8 integer milliseconds")
    func timestamps() throws {
        let raw = #"{"class":"A","args":[],"created_at":1795612739123,"enqueued_at":1795612739.5,"failed_at":1795612739}"#
        guard case .success(let payload) = JobPayload.decode(Array(raw.utf8)) else { Issue.record("should decode"); return }
        #expect(payload.createdAt == 1_795_612_739.123)
        #expect(payload.enqueuedAt == 1_795_612_739.5)
        #expect(payload.failedAt == 1_795_612_739)
        #expect(Timestamp.json(5).serialized() == "5.0")
    }

    @Test("invalid payloads are refused with a reason")
    func invalid() {
        for (raw, reason) in [("not json", "not valid JSON"), ("[1]", "not an object"), (#"{"args":[]}"#, "no 'class'"), (#"{"class":"A"}"#, "no 'args'"), (#"{"class":"A","args":{}}"#, "no 'args'")] {
            guard case .failure(let invalid) = JobPayload.decode(Array(raw.utf8)) else { Issue.record("\(raw) should fail"); continue }
            #expect(invalid.reason.contains(reason), "\(invalid.reason)")
        }
    }

    @Test("new payloads have Sidekiq's fields and a 24-hex jid")
    func newPayload() {
        let p = JobPayload(className: "NoopJob", args: [1], queue: "q", retry: .limit(3))
        #expect(p.object.keys == ["retry", "queue", "class", "args", "jid", "created_at"])
        #expect(JobID.isValid(p.jid))
        #expect(p.retry == .limit(3))
        #expect(JobID.make() != JobID.make())
    }

    @Test("retry settings parse from JSON and from the CLI")
    func retrySettings() {
        #expect(RetrySetting(argument: "false") == .disabled)
        #expect(RetrySetting(argument: "true") == .enabled)
        #expect(RetrySetting(argument: "0") == .limit(0))
        #expect(RetrySetting(argument: "-1") == nil)
        #expect(RetrySetting(argument: "x") == nil)
    }

    @Test("UTC day keys for the daily stats")
    func utcDay() {
        #expect(Timestamp.utcDay(0) == "1970-01-01")
        #expect(Timestamp.utcDay(1_795_612_739) == "2026-11-25")
    }
}

@Suite("Queue order")
struct QueueSelectorTests {
    @Test("without weights the order is strict")
    func strict() throws {
        let selector = try QueueSelector(specs: ["critical", "default", "low"])
        var random = SystemRandomNumberGenerator()
        #expect(selector.isStrict)
        for _ in 0..<20 { #expect(selector.order(using: &random) == [0, 1, 2]) }
    }

    @Test("with weights every queue appears once, heavier ones first more often")
    func weighted() throws {
        let selector = try QueueSelector(specs: ["critical,6", "low,1"])
        var random = SystemRandomNumberGenerator()
        var criticalFirst = 0
        for _ in 0..<2000 {
            let order = selector.order(using: &random)
            #expect(Set(order) == [0, 1])
            if order[0] == 0 { criticalFirst += 1 }
        }
        // Expected share 6/7 ≈ 0.857; allow wide slack so the test cannot flake.
        #expect((1500...1900).contains(criticalFirst))
    }

    @Test("bad queue specs are refused with a message")
    func invalid() {
        for spec in [[""], ["a,b"], ["a,1,2"], ["a", "a"], ["bad name"], ["x,-1"]] {
            #expect(throws: QueueSelector.InvalidQueue.self, "\(spec)") { try QueueSelector(specs: spec) }
        }
        #expect(throws: QueueSelector.InvalidQueue.self) { try QueueSelector(specs: []) }
    }
}
