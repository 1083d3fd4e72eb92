import CConveyorPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Runs N copies of a command and keeps them running: a child that dies is restarted
/// after a backoff (1 s doubling to 60 s, reset once a child has lived a minute); TSTP is
/// forwarded to every child; TERM/INT are forwarded and the supervisor waits for all
/// children, then returns. Children get `CONVEYOR_SUPERVISOR_PID` so they can ask the
/// kernel to stop them if the supervisor itself dies (no orphans).
public final class ProcessSupervisor: @unchecked Sendable {
    public struct Event: Sendable {
        public enum Kind: Sendable { case started, exited, restarting, stopping, forwarded, killed }
        public let kind: Kind
        public let slot: Int
        public let pid: pid_t
        public let message: String
    }

    let executable: String
    let arguments: [String]
    let count: Int
    let stopGrace: Duration
    let report: @Sendable (Event) -> Void
    private let lock = ConditionLock()
    private var children: [ChildProcess?]
    private var startedAt: [ContinuousClock.Instant]
    private var backoff: [Backoff]
    private var restartAt: [ContinuousClock.Instant?]
    private var stopping = false

    /// `stopGrace`: how long TERM waits for children before SIGKILL (their own shutdown
    /// timeout plus a margin).
    public init(executable: String, arguments: [String], count: Int, stopGrace: Duration, report: @escaping @Sendable (Event) -> Void) {
        self.executable = executable
        self.arguments = arguments
        self.count = count
        self.stopGrace = stopGrace
        self.report = report
        children = Array(repeating: nil, count: count)
        startedAt = Array(repeating: .now, count: count)
        backoff = Array(repeating: Backoff(initial: .seconds(1), maximum: .seconds(60)), count: count)
        restartAt = Array(repeating: nil, count: count)
    }

    /// The path of the running executable, for re-running ourselves.
    public static var currentExecutable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var pids: [pid_t] {
        lock.lock()
        defer { lock.unlock() }
        return children.compactMap { $0?.pid }
    }

    /// Starts the children and supervises them until `stop()`; returns 0 when all exited.
    public func run() -> Int32 {
        for slot in 0..<count { start(slot) }
        while true {
            lock.lock()
            let isStopping = stopping
            lock.unlock()
            if isStopping { break }
            for slot in 0..<count { check(slot) }
            // Children are checked every 100 ms (waitpid has no timed wait); stop() wakes this at once.
            lock.lock()
            if !stopping { lock.wait(timeout: .milliseconds(100)) }
            lock.unlock()
        }
        return shutdown()
    }

    public func forward(_ signal: Int32) {
        for pid in pids { kill(pid, signal) }
        report(Event(kind: .forwarded, slot: -1, pid: 0, message: "forwarded \(SignalListener.name(of: signal)) to \(pids.count) worker processes"))
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
    }

    private func start(_ slot: Int) {
        var environment = ProcessEnvironment.current
        environment["CONVEYOR_SUPERVISOR_PID"] = String(getpid())
        environment["CONVEYOR_WORKER_INDEX"] = String(slot)
        do {
            let child = try ChildProcess(executable, arguments, environment: environment, stdin: "/dev/null")
            lock.lock()
            children[slot] = child
            startedAt[slot] = .now
            restartAt[slot] = nil
            lock.unlock()
            report(Event(kind: .started, slot: slot, pid: child.pid, message: "started worker process \(slot) (pid \(child.pid))"))
        } catch {
            lock.lock()
            restartAt[slot] = .now + backoff[slot].current
            lock.unlock()
            report(Event(kind: .restarting, slot: slot, pid: 0, message: "cannot start worker process \(slot): \(error); retrying"))
        }
    }

    private func check(_ slot: Int) {
        lock.lock()
        let child = children[slot]
        let due = restartAt[slot]
        lock.unlock()
        if let child, let status = child.poll() {
            let code = ChildProcess.exitCode(status)
            lock.lock()
            if ContinuousClock.now - startedAt[slot] > .seconds(60) { backoff[slot].reset() }
            let delay = backoff[slot].next()
            children[slot] = nil
            restartAt[slot] = .now + delay
            lock.unlock()
            report(Event(kind: .exited, slot: slot, pid: child.pid,
                         message: "worker process \(slot) (pid \(child.pid)) exited with status \(code); restarting in \(delay.components.seconds) s"))
        } else if child == nil, let due, ContinuousClock.now >= due {
            start(slot)
        }
    }

    private func shutdown() -> Int32 {
        let running = pids
        report(Event(kind: .stopping, slot: -1, pid: 0, message: "stopping \(running.count) worker processes"))
        for pid in running { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + stopGrace
        var worst: Int32 = 0
        for slot in 0..<count {
            lock.lock()
            let child = children[slot]
            lock.unlock()
            guard let child else { continue }
            let left = max(deadline - ContinuousClock.now, .zero)
            if let code = child.wait(timeout: left) {
                worst = max(worst, code)
            } else {
                child.signal(SIGKILL)
                child.wait()
                worst = max(worst, 1)
                report(Event(kind: .killed, slot: slot, pid: child.pid, message: "worker process \(slot) (pid \(child.pid)) did not stop in time; killed"))
            }
        }
        return worst
    }
}

/// Called early by a supervised child: if the supervisor dies, the kernel sends us TERM.
public enum SupervisedChild {
    public static func bindToSupervisor() {
        guard let text = ProcessEnvironment["CONVEYOR_SUPERVISOR_PID"], let supervisor = pid_t(text) else { return }
        _ = conveyor_set_parent_death_signal(SIGTERM)
        // The supervisor may have died before prctl took effect.
        if getppid() != supervisor { kill(getpid(), SIGTERM) }
    }
}
