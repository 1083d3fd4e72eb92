import Foundation
import Synchronization

/// A loopback TCP proxy to `127.0.0.1:targetPort` that can *hang*: while hung it accepts
/// connections and keeps every socket open but forwards nothing in either direction, as a
/// network path that silently stops delivering does (no RST, no FIN; the peer's kernel still
/// ACKs, so TCP keepalive sees nothing wrong). `resume()` forwards again, including what
/// was buffered meanwhile.
public final class HangingProxy: @unchecked Sendable {
    public let port: Int
    public let targetPort: Int
    private let listener: Int32
    private let hung = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let accepted = Atomic<Int>(0)

    public init(targetPort: Int) throws {
        self.targetPort = targetPort
        port = try PrivateRedisServer.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, listen(listener, 128) == 0 else { throw CocoaError(.fileWriteUnknown) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { close() }

    public var url: String { "redis://127.0.0.1:\(port)" }
    public var connectionsAccepted: Int { accepted.load(ordering: .relaxed) }

    public func hang() { hung.store(true, ordering: .relaxed) }
    public func resume() { hung.store(false, ordering: .relaxed) }

    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if closed.load(ordering: .relaxed) { return }
                continue
            }
            accepted.add(1, ordering: .relaxed)
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                Glibc.close(client)
                Glibc.close(upstream)
                continue
            }
            let thread = Thread { [self] in pump(client, upstream) }
            thread.start()
        }
    }

    /// Copies both ways until either side closes; while hung, reads nothing (the bytes wait
    /// in the kernel's buffers) and so writes nothing.
    private func pump(_ a: Int32, _ b: Int32) {
        defer {
            Glibc.close(a)
            Glibc.close(b)
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !closed.load(ordering: .relaxed) {
            if hung.load(ordering: .relaxed) {
                usleep(10_000)
                continue
            }
            var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, 50)
            if ready <= 0 { continue }
            for (index, fd) in fds.enumerated() where fd.revents != 0 {
                if hung.load(ordering: .relaxed) { break }
                let source = index == 0 ? a : b, target = index == 0 ? b : a
                let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
                if count <= 0 { return }
                var offset = 0
                while offset < count {
                    let written = buffer.withUnsafeBytes { write(target, $0.baseAddress! + offset, count - offset) }
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}
