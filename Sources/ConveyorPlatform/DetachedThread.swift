#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CConveyorPlatform

/// Starts a named, detached OS thread running `body` (processors, poller, heartbeat: each
/// blocks on I/O, so each gets its own thread rather than a task).
public enum DetachedThread {
    public struct StartFailed: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { "cannot start a thread: \(String(cString: strerror(code)))" }
    }

    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    public static func start(name: String, stackSize: Int = 4 << 20, _ body: @escaping @Sendable () -> Void) throws {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, stackSize)
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let code = pthread_create(&thread, &attributes, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            conveyor_set_thread_name(box.name)
            box.body()
            return nil
        }, box)
        if code != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw StartFailed(code: code)
        }
    }
}
