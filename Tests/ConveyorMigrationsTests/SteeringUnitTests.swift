import ConveyorJSON
import Testing

@testable import ConveyorMigrations

@Suite("Live tuning and throttling (pure)")
struct SteeringUnitTests {
    let current = MigrationTuning.Values(batchSize: 1000, subBatchSize: 100, pauseMilliseconds: 100, interval: 120, maxBatchSize: 2000)

    @Test("a tuning replaces only the values given and reports what changed")
    func tuningApplies() throws {
        let next = try MigrationTuning(batchSize: 500, pauseMilliseconds: 0).apply(to: current).get()
        #expect(next == MigrationTuning.Values(batchSize: 500, subBatchSize: 100, pauseMilliseconds: 0, interval: 120, maxBatchSize: 2000))
        let changes = current.changes(to: next)
        #expect(changes.objectValue?.keys == ["batch_size", "pause_ms"])
        #expect(changes.objectValue?["batch_size"] == ["before": 1000, "after": 500])
    }

    @Test("out-of-range values are refused naming the limit", arguments: [
        (MigrationTuning(batchSize: 0), "--batch-size 0 is out of range: it must be between 1 and 10000000"),
        (MigrationTuning(subBatchSize: 2_000_000), "--sub-batch-size 2000000 is out of range: it must be between 1 and 1000000"),
        (MigrationTuning(pauseMilliseconds: -1), "--pause-ms -1 is out of range: it must be between 0 and 600000"),
        (MigrationTuning(interval: 100_000), "--interval 100000 is out of range: it must be between 0 and 86400"),
        (MigrationTuning(maxBatchSize: 0), "--max-batch-size 0 is out of range: it must be between 1 and 10000000"),
        (MigrationTuning(subBatchSize: 5000), "--sub-batch-size 5000 cannot be larger than the batch size (1000): the limit is the batch size"),
        (MigrationTuning(batchSize: 3000), "--batch-size 3000 cannot be larger than the max batch size (2000): the limit is --max-batch-size"),
        (MigrationTuning(), "nothing to update: give --batch-size, --sub-batch-size, --pause-ms, --interval or --max-batch-size"),
    ])
    func tuningRefused(tuning: MigrationTuning, message: String) {
        guard case .failure(let refusal) = tuning.apply(to: current) else { Issue.record("\(tuning) accepted"); return }
        #expect(refusal.description == message)
    }

    @Test("raising the max batch size with the batch size is accepted")
    func tuningTogether() throws {
        let next = try MigrationTuning(batchSize: 3000, maxBatchSize: 5000).apply(to: current).get()
        #expect(next.batchSize == 3000 && next.maxBatchSize == 5000)
    }

    @Test("no throttle within the limits or with limits off")
    func noThrottle() {
        #expect(Throttle.evaluate([], interval: 0) == nil)
        #expect(Throttle.evaluate([.init(indicator: "ReplicationLag", value: 100, limit: 100, unit: "bytes")], interval: 0) == nil)
        #expect(Throttle.evaluate([.init(indicator: "WALRate", value: 1e9, limit: 0, unit: "bytes/s")], interval: 0) == nil)
    }

    @Test("the pause stretches in proportion to how far over the limit, the worst indicator wins, capped")
    func proportional() throws {
        let twice = try #require(Throttle.evaluate([.init(indicator: "ReplicationLag", value: 200, limit: 100, unit: "bytes")], interval: 0))
        #expect(twice.pauseSeconds == 2 && twice.indicator == "ReplicationLag" && twice.value == 200 && twice.limit == 100)
        let slower = try #require(Throttle.evaluate([.init(indicator: "ReplicationLag", value: 400, limit: 100, unit: "bytes")], interval: 10))
        #expect(slower.pauseSeconds == 40)
        let worst = try #require(Throttle.evaluate([
            .init(indicator: "ReplicationLag", value: 150, limit: 100, unit: "bytes"),
            .init(indicator: "WALRate", value: 300, limit: 100, unit: "bytes/s"),
        ], interval: 1))
        #expect(worst.indicator == "WALRate" && worst.pauseSeconds == 3)
        let capped = try #require(Throttle.evaluate([.init(indicator: "ReplicationLag", value: 1e12, limit: 1, unit: "bytes")], interval: 60))
        #expect(capped.pauseSeconds == Throttle.maximumPause)
    }

    @Test("a throttle round-trips through its stored JSON and explains itself")
    func throttleJSON() throws {
        let state = ThrottleState(indicator: "ReplicationLag", value: 2_000_000, limit: 1_000_000, unit: "bytes", pauseSeconds: 2)
        #expect(ThrottleState(json: state.json) == state)
        #expect(ThrottleState(json: nil) == nil)
        #expect(state.description == "ReplicationLag 2000000 bytes over the limit of 1000000 bytes: 2.0 s between batches")
    }

    @Test("WAL rate from two positions")
    func walRate() {
        #expect(Throttle.walRate(fromBytes: 1000, toBytes: 3000, seconds: 2) == 1000)
        #expect(Throttle.walRate(fromBytes: 1000, toBytes: 3000, seconds: 0) == nil)
        #expect(Throttle.walRate(fromBytes: 3000, toBytes: 1000, seconds: 1) == nil)
    }
}
