import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A `NOTIFY` received on a channel the session listens to.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
}

/// `LISTEN` and waiting for notifications, so a process can sleep until something happens
/// in the database instead of polling it.
extension PostgresConnection {
    /// Subscribes the session to `channel`. A reconnect drops the subscription: callers
    /// compare `reconnectCount` and listen again.
    public func listen(_ channel: SQLIdentifier) throws(PostgresError) {
        try execute("LISTEN \(channel.quoted)")
    }

    /// Waits up to `timeout` for notifications and returns those that arrived (none when it
    /// timed out).
    public func notifications(waitingUpTo timeout: Duration) throws(PostgresError) -> [PostgresNotification] {
        guard let conn = connection, PQstatus(conn) == CONNECTION_OK else {
            throw PostgresError(.connectionLost, "not connected")
        }
        var received = Self.drainNotifications(conn)
        guard received.isEmpty else { return received }
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(clamping: max(0, milliseconds))) > 0 else { return [] }  // timeout or EINTR
        guard PQconsumeInput(conn) == 1 else {
            let message = String(cString: PQerrorMessage(conn))
            close()
            throw PostgresError(.connectionLost, message.isEmpty ? "server closed the connection" : message)
        }
        received = Self.drainNotifications(conn)
        return received
    }

    private static func drainNotifications(_ conn: OpaquePointer) -> [PostgresNotification] {
        var received: [PostgresNotification] = []
        while let notify = PQnotifies(conn) {
            received.append(PostgresNotification(channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }
}
