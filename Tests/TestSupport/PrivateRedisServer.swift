import ConveyorPlatform
import Foundation

/// A redis-server of a test's own, on a free port, for drills that stop and restart it.
public final class PrivateRedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private var process: ChildProcess?
    private let extraArguments: [String]
    private let configurationText: String?

    /// `configuration`: the text of a config file (written to the server's directory and
    /// passed first, as sentinels need a writable one); `{port}` in it is replaced.
    public init(extraArguments: [String] = [], configuration: String? = nil) throws {
        self.port = try PrivateRedisServer.freePort()
        self.configurationText = configuration
        self.extraArguments = extraArguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-redis-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit { stop() }

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public func start() throws {
        var arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--save", "", "--daemonize", "no"]
        if let configurationText {
            let file = directory.appendingPathComponent("redis.conf").path
            if !FileManager.default.fileExists(atPath: file) {
                try configurationText.replacingOccurrences(of: "{port}", with: String(port)).write(toFile: file, atomically: true, encoding: .utf8)
            }
            arguments = [file] + arguments
        }
        let process = try ChildProcess(
            "redis-server",
            arguments + extraArguments,
            stdout: "/dev/null", stderr: "/dev/null")
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if PrivateRedisServer.isListening(port) { return }
            usleep(20_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start on \(port)"])
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    public func stop() {
        guard let process else { return }
        process.terminate()
        self.process = nil
    }

    /// SIGKILL, as a crash.
    public func kill() {
        guard let process else { return }
        process.signal(SIGKILL)
        process.wait()
        self.process = nil
    }

    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
