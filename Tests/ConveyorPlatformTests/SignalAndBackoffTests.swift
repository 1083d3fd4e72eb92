import ConveyorPlatform
import Synchronization
import Testing

@Suite("Stop signal, thread groups and backoff")
struct SignalAndBackoffTests {
    @Test("backoff doubles from its initial pause to its cap and starts over after reset")
    func backoffGrows() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(700))
        #expect((0..<5).map { _ in backoff.next() } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(700), .milliseconds(700)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
    }

    @Test("retry returns the first success, and stops at the deadline or on an error no retry fixes")
    func backoffRetry() throws {
        struct Failure: Error { let fatal: Bool }
        var attempts = 0
        var backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(2))
        let value = try backoff.retry(until: .now + .seconds(5)) { () throws(Failure) -> Int in
            attempts += 1
            if attempts < 3 { throw Failure(fatal: false) }
            return 42
        }
        #expect(value == 42 && attempts == 3)
        attempts = 0
        #expect(throws: Failure.self) {
            try backoff.retry(until: .now + .seconds(5), giveUp: { $0.fatal }) { () throws(Failure) in
                attempts += 1
                throw Failure(fatal: true)
            }
        }
        #expect(attempts == 1, "a fatal error is not retried")
        attempts = 0
        #expect(throws: Failure.self) {
            try backoff.retry(until: .now + .milliseconds(20)) { () throws(Failure) in
                attempts += 1
                throw Failure(fatal: false)
            }
        }
        #expect(attempts > 1)
    }

    @Test("sleepers wake the moment the signal reaches their level; stop implies quiet")
    func stopSignalWakes() throws {
        let signal = StopSignal()
        #expect(signal.sleep(for: .milliseconds(20)) == false, "timed out: nothing signalled")
        let woke = Atomic<Int>(0)
        let sleepers = ThreadGroup()
        for level in [StopSignal.Level.quiet, .stopping] {
            try sleepers.spawn("sleeper") {
                if signal.sleep(for: .seconds(60), orUntil: level) { woke.add(1, ordering: .relaxed) }
            }
        }
        signal.quiet()
        #expect(signal.isQuiet && !signal.isStopping)
        #expect(sleepers.wait(timeout: .milliseconds(200)) == false, "the stop sleeper still sleeps")
        signal.stop()
        #expect(sleepers.wait(timeout: .seconds(10)), "both woke well before their 60 s")
        #expect(woke.load(ordering: .relaxed) == 2)
        #expect(signal.isQuiet && signal.isStopping)
        signal.wait(until: .stopping)  // returns at once
    }
}
