#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with every signal unblocked and at its
/// default disposition: a parent whose threads block signals (test runners, Dispatch)
/// would otherwise pass that mask on and the child would ignore SIGTERM.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    public let arguments: [String]
    private let lock = ConditionLock()
    private var status: Int32?

    public struct SpawnError: Error, CustomStringConvertible {
        public let executable: String
        public let errno: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
    }

    /// Starts `executable` (a path, or a name looked up on PATH) with `arguments`.
    /// `environment` nil inherits ours; output goes to the given file paths or is inherited.
    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
        stdout: String? = nil, stderr: String? = nil, stdin: String? = "/dev/null"
    ) throws {
        self.executable = executable
        self.arguments = arguments
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0) }
        if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessEnvironment.current).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, executable, &actions, &attributes, argv, env)
        guard result == 0 else { throw SpawnError(executable: executable, errno: result) }
        pid = child
    }

    /// Sends a signal; false if the process is already gone.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        Glibc.kill(pid, signal) == 0
    }

    /// The wait status once the child has exited, without blocking.
    public func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid { status = raw }
        return status
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits up to `timeout` (forever when nil) and returns the exit code (128+signal
    /// when killed by a signal), or nil on timeout.
    @discardableResult
    public func wait(timeout: Duration? = nil) -> Int32? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let status = poll() { return Self.exitCode(status) }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    public func terminate(grace: Duration = .seconds(10)) {
        guard isRunning else { return }
        signal(SIGTERM)
        if wait(timeout: grace) == nil {
            signal(SIGKILL)
            wait()
        }
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        if signal == 0 { return (status >> 8) & 0xFF }
        return 128 + signal
    }
}
