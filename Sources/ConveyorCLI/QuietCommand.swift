import ArgumentParser
import ConveyorPlatform
#if canImport(Glibc)
import Glibc
#endif

/// `conveyor quiet --pid N`: what a Kubernetes preStop hook needs without a shell (the image
/// has none): TSTP to the worker, then wait, so TERM comes after the worker stopped fetching.
struct QuietCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quiet",
        abstract: "Quiet a worker process (TSTP: finish running jobs, fetch no more), then wait.",
        discussion: """
            For a container's preStop hook, which runs without a shell:
              conveyor quiet --pid 1 --wait 5
            sends TSTP to the worker (PID 1 in its container), whose /readyz turns 503 at
            once, and returns after --wait seconds; Kubernetes then sends TERM.
            """)

    @Option(help: "The worker's process id.")
    var pid: Int32

    @Option(help: "Seconds to wait after signalling before returning.")
    var wait: Double = 0

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard pid > 0 else { throw ValidationError("--pid must be a process id above 0") }
        guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait must be 0-3600 seconds") }
    }

    func run() throws {
        // Made first: a bad --log-level/--log-format is refused before anything is signalled.
        let logger = try connection.logger("conveyor.quiet")
        guard kill(pid, SIGTSTP) == 0 else {
            throw CLIError(message: "cannot signal process \(pid): \(String(cString: strerror(errno)))")
        }
        logger.info("sent TSTP", metadata: ["pid": "\(pid)", "wait": "\(wait)"])
        blockingSleep(seconds: wait)
    }
}
