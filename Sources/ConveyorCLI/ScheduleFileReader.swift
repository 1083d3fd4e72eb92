import ConveyorJSON
import ConveyorPlatform
import ConveyorQueue
#if canImport(Glibc)
import Glibc
#endif

/// Reads a YAML schedule file by running `conveyor-web --schedule-to-json FILE`: the YAML
/// library (Yams) needs all of Foundation, which this program leaves out so that every
/// worker stays small; conveyor-web links it already. Found like `conveyor web` finds it.
enum ScheduleFileReader {
    /// The file as the document `PeriodicSchedule` validates, or `{"error": …}`.
    static func read(_ path: String) -> JSONValue {
        guard access(path, R_OK) == 0 else { return ["error": .string("cannot read \(path): \(String(cString: strerror(errno)))")] }
        let executable = ProcessSupervisor.currentExecutable
        guard let program = ProgramReplacement.locate(WebCommand.programName, besides: executable) else {
            return ["error": .string("reading a YAML schedule needs the \(WebCommand.programName) program next to \(executable) or on PATH (it holds the YAML reader); build it with: swift build -c release --static-swift-stdlib --product \(WebCommand.programName)")]
        }
        var template = Array("/tmp/conveyor-schedule-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { return ["error": .string("cannot create a temporary file: \(String(cString: strerror(errno)))")] }
        close(descriptor)
        let output = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(output) }
        do {
            let child = try ChildProcess(program, ["--schedule-to-json", path], stdout: output)
            guard child.wait(timeout: .seconds(30)) == 0 else {
                child.signal(SIGKILL)
                return ["error": .string("\(program) could not read the schedule file")]
            }
        } catch {
            return ["error": .string(String(describing: error))]
        }
        guard let text = SmallFile.contents(of: output, limit: 64 << 20), let document = try? JSONValue.parse(text) else {
            return ["error": .string("\(program) returned no schedule")]
        }
        return document
    }

    /// Reads and validates `path` for a worker running `registry`'s classes.
    static func schedule(_ path: String, knownClasses: Set<String>) -> PeriodicSchedule {
        PeriodicSchedule.parse(document: read(path), file: path, knownClasses: knownClasses)
    }
}
