import ConveyorPlatform
import Foundation

/// A PostgreSQL cluster of a test's own (initdb in a temporary directory), for drills that
/// restart the server. Runs as the `postgres` user when the tests run as root.
public final class PrivatePostgresServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    let binaries: String

    public init() throws {
        port = try PrivateRedisServer.freePort()
        directory = "/tmp/conveyor-pg-test-\(getpid())-\(port)"
        let candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = candidates.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }).last else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no PostgreSQL under /usr/lib/postgresql"])
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try ProcessRunner.run("chown", ["postgres:", directory]) }
        let initdb = try run("initdb", ["-D", directory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"])
        guard initdb.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "initdb failed: \(initdb.stderr)"]) }
        try start()
    }

    deinit {
        _ = try? run("pg_ctl", ["-D", directory, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    private func run(_ tool: String, _ arguments: [String]) throws -> ProcessRunner.Output {
        if getuid() == 0 {
            return try ProcessRunner.run("runuser", ["-u", "postgres", "--", "\(binaries)/\(tool)"] + arguments)
        }
        return try ProcessRunner.run("\(binaries)/\(tool)", arguments)
    }

    public func start() throws {
        let result = try run("pg_ctl", [
            "-D", directory, "-l", "\(directory)/server.log", "-w", "-t", "60", "start", "-o",
            "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off",
        ])
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "pg_ctl start failed: \(result.stderr)"]) }
    }

    /// A fast shutdown (open sessions are terminated), then a start.
    public func restart(downFor pause: Double = 1) throws {
        _ = try run("pg_ctl", ["-D", directory, "-m", "fast", "-w", "stop"])
        Thread.sleep(forTimeInterval: pause)
        try start()
    }
}
