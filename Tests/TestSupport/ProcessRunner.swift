import ConveyorPlatform
import Foundation

/// Runs programs for integration tests: the `conveyor` binary, Ruby's Sidekiq client.
public enum ProcessRunner {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    static let counter = LockedCounter()

    /// A fresh temporary file path.
    public static func temporaryFile(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("\(counter.next())-\(name)").path
    }

    /// Runs to completion (or `timeout`, then SIGKILL) and returns its output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> Output {
        let out = temporaryFile("stdout"), err = temporaryFile("stderr")
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let child = try ChildProcess(executable, arguments, environment: env, stdout: out, stderr: err)
        var status = child.wait(timeout: timeout)
        if status == nil {
            child.signal(SIGKILL)
            status = child.wait()
        }
        return Output(
            status: status ?? -1,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Runs `conveyor` with the given arguments against the given servers.
    public static func conveyor(_ arguments: [String], redisURL: String, databaseURL: String? = nil, extraEnvironment: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> Output {
        var env = ["REDIS_URL": redisURL]
        if let databaseURL { env["DATABASE_URL"] = databaseURL }
        env.merge(extraEnvironment) { $1 }
        return try run(TestEnvironment.conveyorBinary, arguments, environment: env, timeout: timeout)
    }

    /// Runs a Ruby script from Tests/IntegrationTests/Ruby with Sidekiq pointed at `redisURL`.
    public static func ruby(_ script: String, _ arguments: [String], redisURL: String, timeout: Duration = .seconds(120)) throws -> Output {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("IntegrationTests/Ruby/\(script)").path
        return try run("ruby", [path] + arguments, environment: ["REDIS_URL": redisURL], timeout: timeout)
    }
}

/// A long-running `conveyor` process (a worker), with its log in a file.
public final class ConveyorProcess: @unchecked Sendable {
    public let child: ChildProcess
    public let logPath: String

    public init(_ arguments: [String], redisURL: String, databaseURL: String? = nil, extraEnvironment: [String: String] = [:], binary: String = TestEnvironment.conveyorBinary) throws {
        logPath = ProcessRunner.temporaryFile("worker.log")
        var env = ProcessInfo.processInfo.environment
        env["REDIS_URL"] = redisURL
        if let databaseURL { env["DATABASE_URL"] = databaseURL }
        env.merge(extraEnvironment) { $1 }
        child = try ChildProcess(binary, arguments, environment: env, stdout: logPath, stderr: logPath)
    }

    deinit {
        if child.isRunning {
            child.signal(SIGKILL)
            child.wait()
        }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends TERM and returns the exit code (nil if it did not exit within `timeout`).
    public func terminate(timeout: Duration = .seconds(60)) -> Int32? {
        child.signal(SIGTERM)
        return child.wait(timeout: timeout)
    }

    public func kill9() {
        child.signal(SIGKILL)
        child.wait()
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
