/// Asks Redis Sentinels where the current master of a named group is.
enum RedisSentinel {
    static func resolveMaster(
        sentinels: [RedisConfiguration.HostPort], master: String, configuration: RedisConfiguration
    ) throws(RedisError) -> RedisConfiguration.Endpoint {
        var failures: [String] = []
        for sentinel in sentinels {
            var sentinelConfiguration = RedisConfiguration(
                endpoint: .tcp(host: sentinel.host, port: sentinel.port),
                password: configuration.sentinelPassword,
                connectTimeout: configuration.connectTimeout,
                commandTimeout: configuration.connectTimeout,
                reconnectWait: .zero)
            sentinelConfiguration.clientName = nil
            do {
                let connection = try RedisConnection(sentinelConfiguration)
                var command = RedisCommand("SENTINEL")
                command.append("get-master-addr-by-name")
                command.append(master)
                let reply = try connection.send(command)
                let parts = reply.strings
                guard parts.count == 2, let port = Int(parts[1]) else {
                    failures.append("\(sentinel): does not know master '\(master)'")
                    continue
                }
                return .tcp(host: parts[0], port: port)
            } catch {
                failures.append("\(sentinel): \(error.message)")
            }
        }
        throw RedisError(.connectionFailed, "no sentinel answered for master '\(master)' (\(failures.joined(separator: "; ")))")
    }
}
