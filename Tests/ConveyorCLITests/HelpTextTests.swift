import ArgumentParser
import Testing

@testable import ConveyorCLI

/// ArgumentParser wraps help at 80 columns but keeps the discussion's own line breaks: a
/// source line a few characters too long, with its sentence going on in the next line,
/// prints as a full line, an orphaned word or two, then the rest.
@Suite("Help text")
struct HelpTextTests {
    static func allCommands(_ command: any ParsableCommand.Type = ConveyorCommand.self, path: String = "conveyor") -> [(String, any ParsableCommand.Type)] {
        [(path, command)] + command.configuration.subcommands.flatMap {
            allCommands($0, path: path + " " + ($0.configuration.commandName ?? "\($0)"))
        }
    }

    @Test("every command has an abstract, and no discussion line that continues on the next one is wrapped")
    func discussionsFit() {
        let commands = Self.allCommands()
        #expect(commands.count > 20, "\(commands.map(\.0))")
        for (path, command) in commands {
            #expect(!command.configuration.abstract.isEmpty, "\(path) has no abstract")
            let lines = command.configuration.discussion.split(separator: "\n", omittingEmptySubsequences: false)
            for line in lines where line.trimmingPrefix(" ") == "\\" {
                Issue.record("\(path): a line continuation stands alone, split from its command")
            }
            for (line, next) in zip(lines, lines.dropFirst()) where !next.allSatisfy(\.isWhitespace) {
                #expect(line.count <= 78, "\(path): a \(line.count)-column line before a hard line break wraps with an orphan: \(line)")
            }
        }
    }

    @Test("the full help of a nested command shows its discussion and options")
    func renderedHelp() {
        let help = MigrationsFinalize.helpMessage(for: MigrationsFinalize.self, columns: 80)
        #expect(help.contains("GitLab's pasted form"), "\(help)")
        #expect(help.contains("--concurrency"), "\(help)")
        #expect(!help.split(separator: "\n").contains { $0.trimmingPrefix(" ") == "stop" }, "\(help)")
    }

    @Test("queue's help explains the batching strategies and their options")
    func queueHelp() {
        let help = MigrationsQueue.helpMessage(for: MigrationsQueue.self, columns: 80)
        for text in ["--cursor", "--batch-class", "PrimaryKeyBatchingStrategy", "LooseIndexScanBatchingStrategy", "unique index", "min_cursor"] {
            #expect(help.contains(text), "\(text) missing from:\n\(help)")
        }
    }

    @Test("every command takes --log-format (web passes it on to conveyor-web, which takes it too)")
    func everyCommandTakesLogFormat() {
        let leaves = Self.allCommands().filter { $0.1.configuration.subcommands.isEmpty && ObjectIdentifier($0.1) != ObjectIdentifier(WebCommand.self) }
        #expect(leaves.count > 20, "\(leaves.map(\.0))")
        for (path, command) in leaves {
            let help = command.helpMessage(for: command, columns: 200)
            #expect(help.contains("--log-format"), "\(path) has no --log-format")
            #expect(help.contains("--log-level"), "\(path) has no --log-level")
        }
    }
}
