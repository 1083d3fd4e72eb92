import ConveyorJSON
import Testing

@testable import ConveyorQueue

/// A generator that always returns the same value, so jitter is predictable.
struct FixedRandom: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

@Suite("Retry policy (Sidekiq's rules)")
struct RetryPolicyTests {
    let policy = RetryPolicy()
    var random = FixedRandom(value: 1)  // makes Int.random(in: 0..<10) return 0

    func payload(_ retry: RetrySetting, count: Int? = nil, extra: [String: JSONValue] = [:]) -> JobPayload {
        var p = JobPayload(className: "HardJob", args: [1], queue: "critical", retry: retry, jid: "0123456789abcdef01234567", createdAt: 100)
        if let count { p.object["retry_count"] = JSONValue(count) }
        for (k, v) in extra { p.object[k] = v }
        return p
    }

    @Test("delay is count⁴ + 15 + rand(10)·(count+1)")
    func delayFormula() {
        #expect(RetryPolicy.delay(retryCount: 0, random: 0) == 15)
        #expect(RetryPolicy.delay(retryCount: 0, random: 9) == 24)
        #expect(RetryPolicy.delay(retryCount: 3, random: 5) == 81 + 15 + 20)
        #expect(RetryPolicy.delay(retryCount: 24, random: 9) == 331_776 + 15 + 225)
    }

    @Test("the first failure sets failed_at and retry_count 0; later ones retried_at and count+1")
    mutating func firstAndLaterFailures() throws {
        guard case .retry(let first, let at) = policy.outcome(for: payload(.enabled), queue: "critical", errorClass: "RuntimeError", errorMessage: "boom", now: 1000, random: &random) else {
            Issue.record("expected a retry"); return
        }
        #expect(first.retryCount == 0)
        #expect(first.failedAt == 1000)
        #expect(first.retriedAt == nil)
        #expect(first.errorClass == "RuntimeError")
        #expect(first.errorMessage == "boom")
        #expect(at == 1015)
        guard case .retry(let second, let at2) = policy.outcome(for: first, queue: "critical", errorClass: "RuntimeError", errorMessage: "again", now: 2000, random: &random) else {
            Issue.record("expected a retry"); return
        }
        #expect(second.retryCount == 1)
        #expect(second.failedAt == 1000)
        #expect(second.retriedAt == 2000)
        #expect(at2 == 2000 + 1 + 15)
    }

    @Test("retry: N allows N retries, then the job dies holding retry_count N")
    mutating func limitedRetries() {
        var p = payload(.limit(2))
        var runs = 0
        var final: RetryPolicy.Outcome?
        while final == nil {
            runs += 1
            switch policy.outcome(for: p, queue: "q", errorClass: "E", errorMessage: "m", now: 0, random: &random) {
            case .retry(let next, _): p = next
            case let other: final = other
            }
        }
        #expect(runs == 3)
        guard case .dead(let dead)? = final else { Issue.record("expected dead"); return }
        #expect(dead.retryCount == 2)
    }

    @Test("retry: 0 goes straight to the dead set; retry: false is dropped")
    mutating func zeroAndFalse() {
        guard case .dead(let dead) = policy.outcome(for: payload(.limit(0)), queue: "q", errorClass: "E", errorMessage: "m", now: 5, random: &random) else {
            Issue.record("expected dead"); return
        }
        #expect(dead.failedAt == 5)
        #expect(policy.outcome(for: payload(.disabled), queue: "q", errorClass: "E", errorMessage: "m", now: 5, random: &random) == .discard)
    }

    @Test("the default is 25 retries; dead: false discards instead of killing")
    mutating func defaultsAndDeadFalse() {
        guard case .retry = policy.outcome(for: payload(.enabled, count: 23), queue: "q", errorClass: "E", errorMessage: "m", now: 0, random: &random) else {
            Issue.record("24th retry should still be scheduled"); return
        }
        guard case .dead = policy.outcome(for: payload(.enabled, count: 24), queue: "q", errorClass: "E", errorMessage: "m", now: 0, random: &random) else {
            Issue.record("25th retry exhausted"); return
        }
        #expect(policy.outcome(for: payload(.enabled, count: 24, extra: ["dead": false]), queue: "q", errorClass: "E", errorMessage: "m", now: 0, random: &random) == .discard)
    }

    @Test("retry_queue redirects retries; unknown fields survive; long messages are cut")
    mutating func fieldsKept() {
        let long = String(repeating: "x", count: 20_000)
        let original = payload(.enabled, extra: ["retry_queue": "slow", "custom": ["keep": [1, 2]], "bid": "b-1"])
        guard case .retry(let p, _) = policy.outcome(for: original, queue: "critical", errorClass: "E", errorMessage: long, now: 0, random: &random) else {
            Issue.record("expected retry"); return
        }
        #expect(p.queue == "slow")
        #expect(p.object["custom"] == ["keep": [1, 2]])
        #expect(p.object["bid"] == "b-1")
        #expect(p.errorMessage?.count == 10_000)
        #expect(Array(p.object.keys.prefix(6)) == Array(original.object.keys.prefix(6)))
    }

    @Test("backtrace: N keeps the first N lines")
    mutating func backtrace() {
        guard case .retry(let p, _) = policy.outcome(for: payload(.enabled, extra: ["backtrace": 2]), queue: "q", errorClass: "E", errorMessage: "m", backtrace: ["a", "b", "c"], now: 0, random: &random) else {
            Issue.record("expected retry"); return
        }
        #expect(p.object["error_backtrace"] == ["a", "b"])
    }
}
