import ArgumentParser
import ConveyorPlatform

/// `conveyor web`: hands over to the `conveyor-web` program (built next to `conveyor`), so the
/// HTTP stack is loaded only by the web process and workers stay small. Every argument,
/// `--help` included, is passed on unchanged.
struct WebCommand: ParsableCommand {
    static let programName = "conveyor-web"

    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "Serve the admin pages: queues (Sidekiq-style) and Background Migrations (GitLab-style).",
        discussion: """
            Runs the conveyor-web program found next to this executable or on PATH, with
            the same arguments and environment. `conveyor web --help` shows its options.
            """)

    @Argument(parsing: .captureForPassthrough, help: "Arguments for conveyor-web (see conveyor web --help).")
    var arguments: [String] = []

    func run() throws {
        let executable = ProcessSupervisor.currentExecutable
        guard let program = ProgramReplacement.locate(Self.programName, besides: executable) else {
            throw CLIError(message: """
                conveyor web runs the \(Self.programName) program, which is neither next to \(executable) nor on PATH.
                Build it with: swift build -c release --static-swift-stdlib --product \(Self.programName)
                """)
        }
        do {
            try ProgramReplacement.exec(program, arguments: [program] + arguments)
        } catch {
            throw CLIError(message: String(describing: error))
        }
    }
}
