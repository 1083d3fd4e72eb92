import Testing

@testable import ConveyorMigrations

@Suite("Running batches back to back in a worker")
struct BatchRunPolicyTests {
    typealias State = BatchRunPolicy.State

    func state(
        _ status: BatchedMigrationStatus = .active, onHold: Bool = false, enabled: Bool = true, stop: Bool = false, lease: Bool = true,
        interval: Double = 0, lastBatch: Double? = 100, sliceStarted: Double = 100, now: Double = 101
    ) -> State {
        State(status: status, onHold: onHold, enabled: enabled, stopRequested: stop, leaseHeld: lease, interval: interval,
              lastBatchCreatedAt: lastBatch, sliceStarted: sliceStarted, now: now)
    }

    @Test("with interval 0 batches follow each other in the same job until the slice is used up")
    func backToBack() {
        #expect(BatchRunPolicy.next(state()) == .runBatch)
        #expect(BatchRunPolicy.next(state(lastBatch: nil)) == .runBatch)
        #expect(BatchRunPolicy.next(state(now: 100 + BatchRunPolicy.slice - 0.01)) == .runBatch)
        #expect(BatchRunPolicy.next(state(now: 100 + BatchRunPolicy.slice)) == .chain(at: 100 + BatchRunPolicy.slice))
    }

    @Test("an interval not yet elapsed chains the next job at the moment it elapses (a quarter second early at most)")
    func interval() {
        #expect(BatchRunPolicy.next(state(interval: 120, lastBatch: 100, now: 101)) == .chain(at: 220))
        #expect(BatchRunPolicy.next(state(interval: 120, lastBatch: 100, sliceStarted: 219.7, now: 219.8)) == .runBatch)
        #expect(BatchRunPolicy.next(state(interval: 120, lastBatch: nil, now: 101)) == .runBatch)
    }

    @Test("not runnable — paused, finalizing, finished, failed, on hold, switched off, worker stopping — stops without chaining",
          arguments: BatchedMigrationStatus.allCases)
    func stops(status: BatchedMigrationStatus) {
        #expect(BatchRunPolicy.next(state(status)) == (status == .active ? .runBatch : .stop))
        #expect(BatchRunPolicy.next(state(status, onHold: true)) == .stop)
        #expect(BatchRunPolicy.next(state(status, enabled: false)) == .stop)
        #expect(BatchRunPolicy.next(state(status, stop: true)) == .stop)
    }

    @Test("a re-established session has lost the table lease: hand over at once")
    func leaseLost() {
        #expect(BatchRunPolicy.next(state(lease: false, now: 105)) == .chain(at: 105))
        #expect(BatchRunPolicy.next(state(stop: true, lease: false)) == .stop)
    }

    @Test("health indicators: after the first batch, then at most once a second")
    func health() {
        #expect(BatchRunPolicy.checkHealth(lastCheckedAt: nil, now: 5))
        #expect(!BatchRunPolicy.checkHealth(lastCheckedAt: 5, now: 5.5))
        #expect(BatchRunPolicy.checkHealth(lastCheckedAt: 5, now: 6))
    }
}
