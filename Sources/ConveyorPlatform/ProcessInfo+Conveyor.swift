import CConveyorPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Facts about this process that heartbeats and logs report.
public enum ProcessFacts {
    /// Resident set size in KiB, from /proc/self/status (0 where unavailable).
    public static func residentKilobytes() -> Int {
        guard let status = SmallFile.contents(of: "/proc/self/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    /// `DYNO` (Heroku) or the host name, as Sidekiq reports it.
    public static var hostname: String {
        if let dyno = ProcessEnvironment["DYNO"], !dyno.isEmpty { return dyno }
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(cString: buffer)
    }

    public static var pid: Int { Int(getpid()) }

    /// The calling thread's kernel id (what `ps -L` and `top -H` show).
    public static var threadID: Int { Int(conveyor_thread_id()) }
}
