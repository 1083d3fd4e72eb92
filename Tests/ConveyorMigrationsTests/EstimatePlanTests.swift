import Testing

@testable import ConveyorMigrations

@Suite("Estimate: sampling order, range math, downtime sizing, live ETA")
struct EstimatePlanTests {
    @Test("fractions come in GitLab's order: 0, 1, 1/2, 1/4, 3/4, 1/8, 3/8, 5/8, 7/8, 1/16")
    func fractions() {
        #expect(SamplePlan.fractions(10) == [0, 1, 0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875, 0.0625])
        #expect(SamplePlan.fractions(1) == [0])
        #expect(SamplePlan.fractions(0) == [])
        let many = SamplePlan.fractions(64)
        #expect(many.count == 64 && Set(many).count == 64 && many.allSatisfy { (0...1).contains($0) })
    }

    @Test("sample starts follow GitLab: the largest start leaves one batch before the end; a covered start stops sampling")
    func starts() {
        #expect(SamplePlan.integerStart(fraction: 0, first: 1, last: 10_000, span: 1000) == 1)
        #expect(SamplePlan.integerStart(fraction: 1, first: 1, last: 10_000, span: 1000) == 9000)
        #expect(SamplePlan.integerStart(fraction: 0.5, first: 1, last: 10_000, span: 1000) == 4500)
        // A table smaller than a batch: every fraction starts at the first key.
        #expect(SamplePlan.integerStart(fraction: 1, first: 1, last: 50, span: 1000) == 1)
        #expect(SamplePlan.offset(fraction: 1, keys: 10_000, batchSize: 1000) == 9000)
        #expect(SamplePlan.covered(1, by: [1...1000]))
        #expect(!SamplePlan.covered(4500, by: [1...1000, 9000...10_000]))
    }

    let pace = EstimateModel.Pace(batchSize: 1000, subBatchSize: 100, pauseMilliseconds: 100, interval: 0, optimize: false)
    let bookkeeping = EstimateModel.Bookkeeping(finalize: 0.004, worker: 0.002)
    var samples: [EstimateModel.Sample] {
        [EstimateModel.Sample(keys: 1000, rows: 1000, seconds: 0.010, subBatches: 10, walBytes: 100_000, downtimeSeconds: 0.006),
         EstimateModel.Sample(keys: 1000, rows: 1000, seconds: 0.020, subBatches: 10, walBytes: 140_000, downtimeSeconds: 0.012)]
    }

    @Test("finalize at its own pace: work at the mean rate, pauses between sub-batches, bookkeeping per batch; low ≤ point ≤ high")
    func finalizeRange() throws {
        let range = try #require(EstimateModel.finalize(keys: 10_500, samples: samples, pace: pace, bookkeeping: bookkeeping))
        #expect(range.batches == 11)
        // 10,500 keys × 15 µs + pauses (10 batches × 9 + the last of 500 keys × 4) × 0.1 s + 11 × 4 ms.
        let expected = 10_500 * 0.000015 + Double(10 * 9 + 4) * 0.1 + 11 * 0.004
        #expect(abs(range.seconds - expected) < 1e-9)
        #expect(range.low < range.seconds && range.seconds < range.high)
        #expect(abs(range.low - (10_500 * 0.00001 * 0.85 + 9.4 + 0.044)) < 1e-9)
    }

    @Test("workers at interval 120 s take max(interval, batch) per batch, none after the last; the optimizer grows batches")
    func workersRange() throws {
        var slow = pace
        slow.interval = 120
        let fixed = try #require(EstimateModel.workers(keys: 10_000, samples: samples, pace: slow, bookkeeping: bookkeeping))
        #expect(fixed.batches == 10)
        #expect(fixed.seconds > 9 * 120 && fixed.seconds < 9 * 120 + 2)
        slow.optimize = true
        let optimized = try #require(EstimateModel.workers(keys: 1_000_000, samples: samples, pace: slow, bookkeeping: bookkeeping))
        #expect(optimized.batches < 1000, "the optimizer grows batches: \(optimized.batches)")
        #expect(optimized.low <= optimized.seconds && optimized.seconds <= optimized.high)
    }

    @Test("downtime: one statement per batch, batches grown toward the target, lanes divide the time; the range holds the point")
    func downtimeRange() throws {
        let one = try #require(EstimateModel.downtime(keys: 2_000_000, samples: samples, pace: pace, bookkeeping: bookkeeping, lanes: 1, statementTimeout: 120))
        let two = try #require(EstimateModel.downtime(keys: 2_000_000, samples: samples, pace: pace, bookkeeping: bookkeeping, lanes: 2, statementTimeout: 120))
        #expect(one.batches < 2000, "batches grow: \(one.batches)")
        #expect(two.seconds < one.seconds && two.low < one.low)
        #expect(two.low <= two.seconds && two.seconds <= two.high)
        // 2M keys × 9 µs is 18 s of work; pauses are gone.
        #expect(one.seconds > 18 && one.seconds < 19)
        #expect(EstimateModel.walBytes(keys: 10_000, samples: samples) == 1_200_000)
        #expect(EstimateModel.batches(keys: 2_000_001, size: 1000) == 2001)
        #expect(EstimateModel.finalize(keys: 10, samples: [], pace: pace, bookkeeping: bookkeeping) == nil)
    }

    @Test("timeout risk: high from half the statement timeout, medium from a fifth")
    func risk() {
        #expect(EstimateModel.timeoutRisk(slowestSubBatch: 60, timeout: 120) == .high)
        #expect(EstimateModel.timeoutRisk(slowestSubBatch: 30, timeout: 120) == .medium)
        #expect(EstimateModel.timeoutRisk(slowestSubBatch: 1, timeout: 120) == .low)
    }

    @Test("the downtime sizer aims at the target batch time: grows at most ×4 a step, halves after a failure, stays within its maximum")
    func sizer() {
        var sizer = DowntimeSizer(initial: 1000, maximum: 50_000, target: 0.25)
        sizer.record(keys: 1000, seconds: 0.001, succeeded: true)  // 1M keys/s wants 250,000
        #expect(sizer.size == 4000)
        sizer.record(keys: 4000, seconds: 0.004, succeeded: true)
        #expect(sizer.size == 16_000)
        sizer.record(keys: 16_000, seconds: 0.016, succeeded: true)
        sizer.record(keys: 50_000, seconds: 0.05, succeeded: true)
        #expect(sizer.size == 50_000)
        sizer.record(keys: 50_000, seconds: 1, succeeded: false)
        #expect(sizer.size == 25_000)
        // 10,000 keys/s wants 2,500 — but shrinks by half at most per step.
        sizer.record(keys: 25_000, seconds: 2.5, succeeded: true)
        #expect(sizer.size == 12_500)
        #expect(DowntimeSizer(initial: 1000, statementTimeout: 0.4).target == 0.1)
    }

    @Test("--downtime lanes: two for a table of 16 batches or more, one below, --concurrency wins; the own pace overrides nothing")
    func downtimeLanes() {
        #expect(FinalizePace.own.isOwn && !FinalizePace(pauseMilliseconds: 0).isOwn && !FinalizePace(downtime: true).isOwn)
        #expect(FinalizePace.downtimeLanes(explicit: nil, remainingKeys: 2_000_000, batchSize: 1000) == 2)
        #expect(FinalizePace.downtimeLanes(explicit: nil, remainingKeys: 5000, batchSize: 1000) == 1)
        #expect(FinalizePace.downtimeLanes(explicit: 3, remainingKeys: 5000, batchSize: 1000) == 3)
    }

    @Test("live ETA: low ≤ ETA ≤ high, from the rate's halves and the rows-left estimates")
    func eta() throws {
        let batches = (0..<10).map { i in EtaRange.Batch(rows: 1000, startedAt: Double(i), finishedAt: Double(i) + (i < 5 ? 1 : 0.5)) }
        let rate = try #require(EtaRange.rate(batches))
        #expect(abs(rate.rowsPerSecond - 10_000 / 9.5) < 1e-9)
        #expect(rate.low < rate.rowsPerSecond && rate.rowsPerSecond < rate.high)
        let eta = try #require(EtaRange.eta(rowsLeft: [50_000, 40_000, 70_000], rate: rate))
        #expect(eta.low <= eta.seconds && eta.seconds <= eta.high)
        #expect(abs(eta.seconds - 50_000 / rate.rowsPerSecond) < 1e-9)
        #expect(abs(eta.high - 70_000 / rate.low) < 1e-9)
        let few = try #require(EtaRange.rate(Array(batches.prefix(2))))
        #expect(abs(few.low - few.rowsPerSecond * 0.7) < 1e-9)
        #expect(EtaRange.rate([]) == nil)
        #expect(EtaRange.eta(rowsLeft: [], rate: rate) == nil)
    }
}
