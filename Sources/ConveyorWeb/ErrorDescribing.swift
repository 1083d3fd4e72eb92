import ConveyorPostgres
import ConveyorRedis

/// Lets the error page recognise an unavailable server without depending on each type.
protocol ConveyorRedisErrorDescribing {
    var isUnavailable: Bool { get }
    var text: String { get }
}

extension RedisError: ConveyorRedisErrorDescribing {
    var isUnavailable: Bool { isConnectionProblem }
    var text: String { description }
}

extension PostgresError: ConveyorRedisErrorDescribing {
    var isUnavailable: Bool { isConnectionProblem }
    var text: String { description }
}
