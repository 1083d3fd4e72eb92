import ConveyorPlatform
import Foundation

/// A streaming replica of a `PrivatePostgresServer`, made with `pg_basebackup -R` over
/// loopback and started on a port of its own, reporting its positions every second.
public final class PrivatePostgresReplica: @unchecked Sendable {
    public let port: Int
    public let directory: String
    let binaries: String

    public init(of primary: PrivatePostgresServer) throws {
        port = try PrivateRedisServer.freePort()
        directory = "/tmp/conveyor-pg-replica-\(getpid())-\(port)"
        binaries = primary.binaries
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try ProcessRunner.run("chmod", ["700", directory])
        if getuid() == 0 { _ = try ProcessRunner.run("chown", ["postgres:", directory]) }
        let backup = try run("pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", directory, "-R", "-X", "stream"])
        guard backup.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "pg_basebackup failed: \(backup.stderr)"]) }
        let start = try run("pg_ctl", [
            "-D", directory, "-l", "\(directory)/server.log", "-w", "-t", "60", "start", "-o",
            "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c hot_standby=on -c wal_receiver_status_interval=1",
        ])
        guard start.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "replica start failed: \(start.stderr)"]) }
    }

    deinit {
        _ = try? run("pg_ctl", ["-D", directory, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public var log: String { (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? "" }

    private func run(_ tool: String, _ arguments: [String]) throws -> ProcessRunner.Output {
        if getuid() == 0 {
            return try ProcessRunner.run("runuser", ["-u", "postgres", "--", "\(binaries)/\(tool)"] + arguments)
        }
        return try ProcessRunner.run("\(binaries)/\(tool)", arguments)
    }
}
