import ConveyorJSON
import Foundation
import Testing

@testable import ConveyorMigrations

@Suite("Batched migration state machine")
struct MigrationStateMachineTests {
    typealias S = BatchedMigrationStatus

    @Test("status integers match GitLab's")
    func integers() {
        #expect(S.allCases.map(\.rawValue) == [0, 1, 3, 4, 5, 6])
        #expect(BatchedJobStatus.allCases.map(\.rawValue) == [0, 1, 2, 3])
        #expect(S(name: "finalizing") == .finalizing)
    }

    @Test("every event from every status follows GitLab's transitions", arguments: [
        (S.Event.pause, [S.active, .paused], S.paused),
        (.execute, [.active, .paused, .failed], .active),
        (.finish, [.paused, .finished, .active, .finalizing], .finished),
        (.failure, [.failed, .finalizing, .active], .failed),
        (.finalize, S.allCases, .finalizing),
        (.confirmFinalize, [.finalized, .finished], .finalized),
        (.resume, [.paused], .active),
        (.retry, [.failed], .active),
    ])
    func transitions(event: S.Event, allowed: [S], target: S) {
        for status in S.allCases {
            switch status.applying(event) {
            case .success(let next):
                #expect(allowed.contains(status), "\(event) should be refused from \(status)")
                #expect(next == target)
            case .failure(let error):
                #expect(!allowed.contains(status), "\(event) should be allowed from \(status)")
                #expect(error.description.contains(status.name))
            }
        }
    }

    @Test("pausing a finished migration says what is allowed")
    func messages() throws {
        guard case .failure(let error) = S.finished.applying(.pause) else { Issue.record("should fail"); return }
        #expect(error.description == "You can pause only active background migrations (this one is finished).")
    }

    @Test("an operator's resume needs a paused migration and a retry a failed one")
    func resumeAndRetryEvents() throws {
        for status in S.allCases where status != .paused {
            guard case .failure(let error) = status.applying(.resume) else { Issue.record("resume from \(status) allowed"); continue }
            #expect(error.description == "You can resume only paused background migrations (this one is \(status.name)).")
        }
        for status in S.allCases where status != .failed {
            guard case .failure(let error) = status.applying(.retry) else { Issue.record("retry from \(status) allowed"); continue }
            #expect(error.description == "You can retry only failed background migrations (this one is \(status.name)).")
        }
        #expect(try S.paused.applying(.resume).get() == .active)
        #expect(try S.failed.applying(.retry).get() == .active)
    }

    @Test("finished and finalized pass an upgrade gate, nothing else does")
    func complete() {
        #expect(S.allCases.filter(\.isComplete) == [.finished, .finalized])
    }
}

@Suite("Batched job retry rules")
struct JobRulesTests {
    func job(batch: Int = 1000, sub: Int = 100, attempts: Int, status: BatchedJobStatus = .failed) -> BatchedJob {
        BatchedJob(id: 1, migrationID: 1, minValue: 1, maxValue: Int64(batch), batchSize: batch, subBatchSize: sub, status: status, attempts: attempts)
    }

    @Test("three attempts: failed jobs with attempts left are retriable")
    func attempts() {
        #expect(BatchedJob.maxAttempts == 3)
        #expect(job(attempts: 2).isRetriable)
        #expect(!job(attempts: 3).isRetriable)
        #expect(!job(attempts: 1, status: .succeeded).isRetriable)
    }

    @Test("a timed-out sub-batch shrinks by 0.75 until it would be 65% below the original: 100 → 75 → 56 → 42 → stop")
    func subBatchReduction() {
        var sizes: [Int] = []
        var current = job(attempts: 1)
        while let next = current.reducedSubBatchSize(migrationSubBatchSize: 100) {
            sizes.append(next)
            current.subBatchSize = next
        }
        #expect(sizes == [75, 56, 42])
        #expect(job(batch: 10, sub: 100, attempts: 1).reducedSubBatchSize(migrationSubBatchSize: 100) == 10)
    }

    @Test("sub-batch reduction needs attempts left and a batch bigger than its sub-batch")
    func canReduce() {
        #expect(job(attempts: 2).canReduceSubBatchSize)
        #expect(!job(attempts: 3).canReduceSubBatchSize)
        #expect(!job(batch: 100, sub: 100, attempts: 1).canReduceSubBatchSize)
        #expect(!job(batch: 1, sub: 1, attempts: 1).canReduceSubBatchSize)
    }

    @Test("a batch splits only after its last attempt timed out")
    func canSplit() {
        #expect(job(attempts: 3).canSplit(afterTimeout: true))
        #expect(!job(attempts: 3).canSplit(afterTimeout: false))
        #expect(!job(attempts: 2).canSplit(afterTimeout: true))
        #expect(!job(batch: 100, sub: 100, attempts: 3).canSplit(afterTimeout: true))
    }
}

@Suite("Batch optimizer")
struct OptimizerTests {
    @Test("constants are GitLab's")
    func constants() {
        #expect(BatchOptimizer.targetEfficiency == 0.9...0.95)
        #expect(BatchOptimizer.minimumBatchSize == 1_000)
        #expect(BatchOptimizer.maximumBatchSize == 2_000_000)
        #expect(BatchOptimizer.maximumMultiplier == 1.2)
        #expect(BatchOptimizer.numberOfJobs == 20)
        #expect(BatchOptimizer.alpha == 0.4)
    }

    @Test("efficiency is an exponentially weighted mean of duration/interval, newest weighted most")
    func efficiency() throws {
        #expect(BatchOptimizer.smoothedEfficiency(durationsNewestFirst: Array(repeating: 60, count: 19), interval: 120) == nil)
        #expect(BatchOptimizer.smoothedEfficiency(durationsNewestFirst: Array(repeating: 60, count: 20), interval: 120) == 0.5)
        #expect(BatchOptimizer.smoothedEfficiency(durationsNewestFirst: Array(repeating: 60, count: 20), interval: 0) == nil)
        // Newest job 120 s, the rest 0: weight 1 / Σ 0.6^i for i in 0..<20.
        let divisor = (0..<20).reduce(0.0) { $0 + pow(0.6, Double($1)) }
        let expected = (1.0 / divisor * 100).rounded() / 100
        #expect(BatchOptimizer.smoothedEfficiency(durationsNewestFirst: [120] + Array(repeating: 0, count: 19), interval: 120) == expected)
    }

    @Test("batch size grows at most 1.2×, shrinks proportionally, stays put inside the target")
    func batchSize() {
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: 0.5) == 12_000)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: 0.85) == 11_176)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: 1.9) == 5_000)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: 0.92) == nil)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: nil) == nil)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: nil, efficiency: 0) == nil)
    }

    @Test("batch size is clamped to [1,000, max_batch_size or 2,000,000]")
    func clamps() {
        #expect(BatchOptimizer.optimizedBatchSize(current: 1_000, maxBatchSize: nil, efficiency: 50) == nil)  // already at the floor
        #expect(BatchOptimizer.optimizedBatchSize(current: 2_000, maxBatchSize: nil, efficiency: 50) == 1_000)
        #expect(BatchOptimizer.optimizedBatchSize(current: 1_900_000, maxBatchSize: nil, efficiency: 0.1) == 2_000_000)
        #expect(BatchOptimizer.optimizedBatchSize(current: 10_000, maxBatchSize: 11_000, efficiency: 0.1) == 11_000)
        #expect(BatchOptimizer.optimizedBatchSize(current: 500, maxBatchSize: 600, efficiency: 0.1) == 600)
    }
}

@Suite("Configuration arguments and messages")
struct ConfigurationTests {
    @Test("GitLab's pasted rake argument parses, with escaped commas")
    func rakeArgument() throws {
        let c = try MigrationConfiguration.parseRakeArgument(#"[CopyColumnUsingBackgroundMigrationJob,push_event_payloads,event_id,'[["event_id"]\, ["event_id_convert_to_bigint"]]']"#)
        #expect(c.jobClassName == "CopyColumnUsingBackgroundMigrationJob")
        #expect(c.tableName == "push_event_payloads")
        #expect(c.columnName == "event_id")
        #expect(c.jobArguments == [["event_id"], ["event_id_convert_to_bigint"]])
        let plain = try MigrationConfiguration.parseRakeArgument("Job,events,id")
        #expect(plain.jobArguments == [])
        #expect(throws: MigrationError.self) { try MigrationConfiguration.parseRakeArgument("[Job,events]") }
        #expect(throws: MigrationError.self) { try MigrationConfiguration.parseRakeArgument("[Job,events,id,'not json']") }
    }

    @Test("the finalize command is shell-quoted and pastes back to the same configuration")
    func finalizeCommand() throws {
        let c = MigrationConfiguration(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]])
        #expect(c.finalizeCommand == #"conveyor migrations finalize CopyColumnUsingBackgroundMigrationJob events id '[["id"],["id_convert_to_bigint"]]'"#)
        #expect(c.description == #"{job_class_name: CopyColumnUsingBackgroundMigrationJob, table_name: events, column_name: id, job_arguments: [["id"],["id_convert_to_bigint"]]}"#)
        let odd = MigrationConfiguration(jobClassName: "J", tableName: "it's", columnName: "a b")
        #expect(odd.finalizeCommand == #"conveyor migrations finalize J 'it'\''s' 'a b' '[]'"#)
    }

    @Test("WAL segment distance between file names")
    func walDistance() {
        #expect(HealthCheck.segmentDistance(from: "000000010000000000000010", to: "000000010000000000000052") == 66)
        #expect(HealthCheck.segmentDistance(from: "0000000100000001000000FF", to: "000000010000000200000001") == 2)
        #expect(HealthCheck.segmentDistance(from: "x", to: "y") == nil)
    }

    @Test("settings validate their values")
    func settings() throws {
        var s = MigrationSettings()
        try s.set("database_max_running_batched_background_migrations", "4")
        #expect(s.maxRunningMigrations == 4)
        try s.set("execute_batched_migrations_on_schedule", "off")
        #expect(!s.executeOnSchedule)
        #expect(throws: MigrationSettings.InvalidSetting.self) { try s.set("database_max_running_batched_background_migrations", "0") }
        #expect(throws: MigrationSettings.InvalidSetting.self) { try s.set("execute_batched_migrations_on_schedule", "maybe") }
        #expect(throws: MigrationSettings.InvalidSetting.self) { try s.set("nope", "1") }
    }
}
