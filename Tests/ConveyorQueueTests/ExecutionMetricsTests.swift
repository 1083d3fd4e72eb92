import ConveyorRedis
import Testing

@testable import ConveyorQueue

/// A seeded generator, so the mixed workload below is the same every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Sidekiq execution metrics: histogram, tally, keys and flush commands")
struct ExecutionMetricsTests {
    @Test("26 buckets with Sidekiq's bounds; a duration goes in the first bucket whose bound it is below")
    func bucketMath() {
        #expect(LatencyHistogram.bucketCount == 26)
        #expect(LatencyHistogram.upperBounds.count == 25)
        #expect(LatencyHistogram.upperBounds.first == 20 && LatencyHistogram.upperBounds.last == 335_000)
        #expect(LatencyHistogram.bucket(milliseconds: 0) == 0)
        #expect(LatencyHistogram.bucket(milliseconds: 19.999) == 0)
        #expect(LatencyHistogram.bucket(milliseconds: 20) == 1)
        #expect(LatencyHistogram.bucket(milliseconds: 29.9) == 1)
        #expect(LatencyHistogram.bucket(milliseconds: 30) == 2)
        #expect(LatencyHistogram.bucket(milliseconds: 280) == 7)  // Sidekiq's own example: 280 ms → bucket[7]
        #expect(LatencyHistogram.bucket(milliseconds: 334_999) == 24)
        #expect(LatencyHistogram.bucket(milliseconds: 335_000) == 25)
        #expect(LatencyHistogram.bucket(milliseconds: 86_400_000) == 25)
    }

    @Test("every bound is the start of the next bucket", arguments: Array(LatencyHistogram.upperBounds.enumerated()))
    func boundsAreExclusive(index: Int, bound: Double) {
        #expect(LatencyHistogram.bucket(milliseconds: bound.nextDown) == index)
        #expect(LatencyHistogram.bucket(milliseconds: bound) == index + 1)
    }

    @Test("histograms record and merge per bucket")
    func histogramMerge() {
        var a = LatencyHistogram()
        a.record(milliseconds: 1)
        a.record(milliseconds: 25)
        var b = LatencyHistogram()
        b.record(milliseconds: 2)
        b.record(milliseconds: 400_000)
        a.merge(b)
        #expect(a.counts[0] == 2 && a.counts[1] == 1 && a.counts[25] == 1)
        #expect(a.total == 4)
        #expect(!a.isEmpty && LatencyHistogram().isEmpty)
    }

    @Test("p counts successes and failures, f failures, time and histogram successes only")
    func tallySemantics() throws {
        var tally = ExecutionTally()
        for _ in 0..<5 { tally.record(className: "NoopJob", seconds: 0.0004, failed: false) }
        tally.record(className: "FailJob", seconds: 2.5, failed: true)
        tally.record(className: "FailJob", seconds: 0.050, failed: false)
        tally.record(className: "NoopJob", seconds: 0.021, failed: false)
        let noop = try #require(tally["NoopJob"])
        #expect(noop.processed == 6 && noop.failed == 0 && noop.succeeded == 6)
        #expect(noop.microseconds == 5 * 400 + 21_000)
        #expect(noop.histogram.counts[0] == 5 && noop.histogram.counts[1] == 1 && noop.histogram.total == 6)
        let fail = try #require(tally["FailJob"])
        #expect(fail.processed == 2 && fail.failed == 1)
        #expect(fail.microseconds == 50_000, "the failed run's 2.5 s is not counted")
        #expect(fail.histogram.total == 1 && fail.histogram.counts[3] == 1)
        #expect(tally.classes.map(\.name) == ["NoopJob", "FailJob"])
        #expect(tally["Other"] == nil)
    }

    @Test("merging tallies adds class by class, new classes included")
    func tallyMerge() throws {
        var a = ExecutionTally()
        a.record(className: "A", seconds: 0.001, failed: false)
        var b = ExecutionTally()
        b.record(className: "B", seconds: 0.001, failed: true)
        b.record(className: "A", seconds: 0.002, failed: false)
        a.merge(b)
        #expect(try #require(a["A"]).processed == 2)
        #expect(try #require(a["A"]).microseconds == 3000)
        #expect(try #require(a["B"]).failed == 1)
        #expect(ExecutionTally().isEmpty && !a.isEmpty)
    }

    @Test("keys of both layouts for one UTC minute, as Sidekiq 7.3 and 8.x spell them")
    func keyNames() {
        // 2026-12-01 09:05:30 UTC
        let keys = SidekiqMetricsKeys(epochSeconds: 1_796_115_930)
        #expect(keys == SidekiqMetricsKeys(year: 2026, month: 12, day: 1, hour: 9, minute: 5))
        #expect(keys.minuteKeyV7 == "j|20261201|9:5")
        #expect(keys.minuteKeyV8 == "j|261201|9:05")
        #expect(keys.tenMinuteKeyV8 == "j|261201|9:0")
        #expect(keys.histogramKeyV7("NoopJob") == "NoopJob-01-09:5")
        #expect(keys.histogramKeyV8("NoopJob") == "h|NoopJob-1-9:5")
        let late = SidekiqMetricsKeys(year: 2031, month: 7, day: 22, hour: 22, minute: 43)
        #expect(late.minuteKeyV7 == "j|20310722|22:43")
        #expect(late.minuteKeyV8 == "j|310722|22:43")
        #expect(late.tenMinuteKeyV8 == "j|310722|22:4")
        #expect(late.histogramKeyV7("A::B") == "A::B-22-22:43")
        #expect(late.histogramKeyV8("A::B") == "h|A::B-22-22:43")
        #expect(SidekiqMetricsKeys.minuteTTL == 28_800 && SidekiqMetricsKeys.histogramTTL == 28_800)
        #expect(SidekiqMetricsKeys.tenMinuteTTL == 259_200)
    }

    @Test("the flush writes p/f/ms into the three hashes with their TTLs and both histograms")
    func flushCommands() {
        var tally = ExecutionTally()
        tally.record(className: "NoopJob", seconds: 0.0015, failed: false)
        tally.record(className: "NoopJob", seconds: 0.025, failed: false)
        tally.record(className: "FailJob", seconds: 0.1, failed: true)
        let (commands, next) = ExecutionMetricsFlush().plan(tally, at: 1_796_115_930)
        let lines = commands.map { $0.arguments.joined(separator: " ") }
        var expected: [String] = []
        for (key, ttl) in [("j|20261201|9:5", 28_800), ("j|261201|9:05", 28_800), ("j|261201|9:0", 259_200)] {
            expected += ["HINCRBY \(key) NoopJob|p 2", "HINCRBY \(key) NoopJob|ms 26", "HINCRBY \(key) FailJob|p 1", "HINCRBY \(key) FailJob|f 1", "EXPIRE \(key) \(ttl)"]
        }
        expected += [
            "BITFIELD NoopJob-01-09:5 OVERFLOW SAT INCRBY u16 #0 1 INCRBY u16 #1 1", "EXPIRE NoopJob-01-09:5 28800",
            "BITFIELD h|NoopJob-1-9:5 OVERFLOW SAT INCRBY u16 #0 1 INCRBY u16 #1 1", "EXPIRE h|NoopJob-1-9:5 28800",
        ]
        #expect(lines == expected)
        #expect(next.carriedMicroseconds == ["NoopJob": 500])
    }

    @Test("sub-millisecond rests carry to the next flush instead of being lost")
    func carry() {
        var flush = ExecutionMetricsFlush()
        var written = 0
        for _ in 0..<10 {
            var tally = ExecutionTally()
            tally.record(className: "Fast", seconds: 0.0003, failed: false)
            let (commands, next) = flush.plan(tally, at: 0)
            flush = next
            written += commands.compactMap { c -> Int? in
                let a = c.arguments
                return a.count == 4 && a[0] == "HINCRBY" && a[1] == "j|19700101|0:0" && a[2] == "Fast|ms" ? Int(a[3]) : nil
            }.reduce(0, +)
        }
        #expect(written == 3, "ten runs of 0.3 ms are 3 ms")
        #expect(flush.carriedMicroseconds["Fast"] == 0)
    }

    @Test("an empty tally sends nothing; a huge bucket count is clamped to u16")
    func edges() {
        #expect(ExecutionMetricsFlush().plan(ExecutionTally(), at: 0).commands.isEmpty)
        var tally = ExecutionTally()
        for _ in 0..<70_000 { tally.record(className: "N", seconds: 0, failed: false) }
        let bitfields = ExecutionMetricsFlush().plan(tally, at: 0).commands.filter { $0.arguments.first == "BITFIELD" }
        #expect(bitfields.count == 2)
        #expect(bitfields.allSatisfy { $0.arguments.suffix(4) == ["INCRBY", "u16", "#0", "65535"] })
    }

    @Test("the recorder merges per-thread tallies and keeps what a failed flush gives back")
    func recorderThreads() async throws {
        let recorder = ExecutionMetricsRecorder()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for i in 0..<1000 { recorder.jobFinished(queue: "q", className: "C\(t % 2)", seconds: 0.001, failed: i % 10 == 0) }
                }
            }
        }
        let first = recorder.drain()
        #expect(try #require(first["C0"]).processed == 2000)
        #expect(try #require(first["C1"]).failed == 200)
        #expect(recorder.drain().isEmpty)
        recorder.giveBack(first)
        recorder.jobFinished(queue: "q", className: "C0", seconds: 0, failed: false)
        #expect(try #require(recorder.drain()["C0"]).processed == 2001)
    }

    @Test("the lock-free per-thread counters count exactly what the pure tally does, across many classes and drains")
    func countersMatchTally() throws {
        let recorder = ExecutionMetricsRecorder()
        var expected = ExecutionTally()
        var drained = ExecutionTally()
        var random = SplitMix(state: 7)
        for i in 0..<5000 {
            let name = "Job\(Int.random(in: 0..<20, using: &random))"  // 20 classes: three chunks of slots
            let seconds = Double(Int.random(in: 0..<400_000, using: &random)) / 1_000_000
            let failed = i % 7 == 0
            expected.record(className: name, seconds: seconds, failed: failed)
            recorder.jobFinished(queue: "q", className: name, seconds: seconds, failed: failed)
            if i % 999 == 0 { drained.merge(recorder.drain()) }
        }
        drained.merge(recorder.drain())
        #expect(drained.classes.count == 20)
        for (name, counts) in expected.classes {
            #expect(drained[name] == counts, "\(name)")
        }
    }

    @Test("a flush that reads a job's time before its count writes the time now and the count later")
    func tornRead() {
        var tally = ExecutionTally()
        var counts = ExecutionTally.ClassCounts()
        counts.microseconds = 2500
        counts.histogram.record(milliseconds: 2.5)
        tally.add(className: "N", counts)
        let lines = ExecutionMetricsFlush().plan(tally, at: 0).commands.map { $0.arguments.joined(separator: " ") }
        #expect(lines.contains("HINCRBY j|19700101|0:0 N|ms 2"))
        #expect(!lines.contains { $0.contains("N|p") })
        #expect(lines.contains("BITFIELD h|N-1-0:0 OVERFLOW SAT INCRBY u16 #0 1"))
    }
}
