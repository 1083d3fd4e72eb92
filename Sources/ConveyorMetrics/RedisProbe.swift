import ConveyorRedis
import Synchronization

/// Answers "does Redis answer right now?" for health endpoints: a PING on a connection of
/// the probe's own, with short timeouts so a probe during an outage returns within about
/// two seconds instead of waiting out the normal reconnect window.
public final class RedisProbe: Sendable {
    private let configuration: RedisConfiguration
    private let connection = Mutex<RedisConnection?>(nil)

    public init(_ configuration: RedisConfiguration, clientName: String = "conveyor-probe") {
        var configuration = configuration
        configuration.clientName = clientName
        configuration.connectTimeout = min(configuration.connectTimeout, .seconds(1))
        configuration.commandTimeout = min(configuration.commandTimeout, .seconds(1))
        configuration.reconnectWait = .zero
        self.configuration = configuration
    }

    /// nil when Redis answered PONG; otherwise what went wrong.
    public func ping() -> String? {
        connection.withLock { connection -> String? in
            do {
                let redis = try connection ?? RedisConnection(configuration)
                connection = redis
                let reply = try redis.command("PING")
                if let error = reply.error { return error.description }
                return nil
            } catch {
                // Start over next time: the next probe connects afresh.
                connection?.close()
                connection = nil
                return String(describing: error)
            }
        }
    }
}
