#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces the running program with another one (`execv`), keeping the process id, its
/// open descriptors and environment: how `conveyor web` hands over to `conveyor-web`.
public enum ProgramReplacement {
    public struct Failed: Error, CustomStringConvertible {
        public let path: String
        public let errno: Int32
        public var description: String { "cannot run \(path): \(String(cString: strerror(errno)))" }
    }

    /// Finds `name` next to the running executable, then on PATH.
    public static func locate(_ name: String, besides executable: String) -> String? {
        var candidates: [String] = []
        if let slash = executable.lastIndex(of: "/") {
            candidates.append(String(executable[...slash]) + name)
        }
        if let path = ProcessEnvironment["PATH"] {
            for directory in path.split(separator: ":") where !directory.isEmpty {
                candidates.append("\(directory)/\(name)")
            }
        }
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Never returns unless `execv` fails.
    public static func exec(_ path: String, arguments: [String]) throws -> Never {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv(path, argv)
        let code = errno
        for pointer in argv { free(pointer) }
        throw Failed(path: path, errno: code)
    }
}
