import ArgumentParser
import Testing

@testable import ConveyorCLI

@Suite("Help text of periodic and unique jobs")
struct CronHelpTests {
    @Test("conveyor cron --help shows the schedule file format and every subcommand")
    func cronHelp() {
        let help = CronCommand.helpMessage(for: CronCommand.self, columns: 80)
        for text in ["schedule.yml", "cron:", "class:", "active:", "unique_for", "list", "enqueue", "pause", "resume", "check"] {
            #expect(help.contains(text), "missing \(text) in:\n\(help)")
        }
    }

    @Test("worker --schedule and enqueue --unique-for explain themselves")
    func optionHelp() {
        let worker = WorkerCommand.helpMessage(for: WorkerCommand.self, columns: 80)
        #expect(worker.contains("--schedule <FILE>") && worker.contains("exactly") && worker.contains("once"), "\(worker)")
        let enqueue = EnqueueCommand.helpMessage(for: EnqueueCommand.self, columns: 80)
        #expect(enqueue.contains("--unique-for <SECONDS>") && enqueue.contains("--unique-until <success|start>") && enqueue.contains("exits 3"), "\(enqueue)")
    }

    @Test("bad unique options are refused by validation")
    func validation() {
        for arguments in [["NoopJob", "--unique-for", "0"], ["NoopJob", "--unique-until", "start"], ["NoopJob", "--unique-for", "5", "--unique-until", "later"], ["NoopJob", "--unique-for", "5", "--count", "3"]] {
            #expect(throws: (any Error).self, "\(arguments)") { try EnqueueCommand.parse(arguments) }
        }
        #expect(throws: Never.self) { try EnqueueCommand.parse(["NoopJob", "--unique-for", "5", "--unique-until", "start", "--in", "10"]) }
    }
}
