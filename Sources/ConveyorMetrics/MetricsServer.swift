import ConveyorPlatform
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A minimal HTTP server on a thread of its own for worker processes, which have no web
/// server: `GET /metrics` answers with the text a closure renders, other paths (the health
/// probes) with what `routes` returns for them.
public final class MetricsServer: Sendable {
    /// One response: a status, and a plain-text body unless `contentType` says otherwise.
    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        static let notFound = Reply(status: 404, body: "not found\n")

        var statusLine: String {
            switch status {
            case 200: return "200 OK"
            case 404: return "404 Not Found"
            case 503: return "503 Service Unavailable"
            default: return "\(status) Status"
            }
        }
    }

    public let port: Int
    private let descriptor: Int32

    /// Binds at once (so a taken port fails here, clearly), then serves on a thread.
    /// `routes` gets the path without its query and returns nil for paths it does not serve.
    public init(
        host: String = "0.0.0.0", port: Int, logger: Logger, render: @escaping @Sendable () -> String,
        routes: @escaping @Sendable (String) -> Reply? = { _ in nil }
    ) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EADDRINUSE)
        }
        descriptor = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        try DetachedThread.start(name: "metrics", stackSize: 512 << 10) {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { if errno == EINTR { continue } else { return } }
                Self.serve(client) { path in
                    if path == "/metrics" { return Reply(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: render()) }
                    return routes(path) ?? .notFound
                }
            }
        }
        logger.info("serving metrics and health probes", metadata: ["address": "\(host):\(self.port)", "paths": "/metrics /healthz /readyz"])
    }

    private static func serve(_ client: Int32, route: (String) -> Reply) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4096)
        let count = read(client, &request, request.count)
        guard count > 0 else { return }
        let line = String(decoding: request[0..<count], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = line.split(separator: " ")
        var reply = Reply.notFound
        if parts.count >= 2, parts[0] == "GET" {
            let target = parts[1]
            reply = route(String(target[..<(target.firstIndex(of: "?") ?? target.endIndex)]))
        }
        let response = "HTTP/1.1 \(reply.statusLine)\r\nContent-Type: \(reply.contentType)\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n\r\n" + reply.body
        Array(response.utf8).withUnsafeBytes { writeAll(client, $0) }
    }
}
