import ConveyorRedis
import Testing
import TestSupport

@testable import ConveyorQueue

@Suite("Queue doorbell (client tracking)")
struct QueueDoorbellTests {
    @Test("armed, it rings for a push to any of its queues and not for other keys or its own fetches")
    func rings() throws {
        // A server of its own: tracking ignores database numbers, so other tests' writes
        // and FLUSHDBs on the shared server would ring this bell too (harmlessly, in use).
        let server = try PrivateRedisServer()
        let producer = try RedisConnection(url: server.url)
        let configuration = try RedisConfiguration(url: server.url)
        let fetchConnection = try RedisConnection(configuration)
        let keys = (1...40).map { "queue:q\($0)" }
        let doorbell = QueueDoorbell(configuration: configuration, queueKeys: keys)
        defer { doorbell.close() }
        try doorbell.arm(on: fetchConnection)
        #expect(doorbell.isArmed(on: fetchConnection))
        #expect(try doorbell.wait(timeout: .milliseconds(200)) == false, "nothing pushed yet")
        try producer.command("SET", "unrelated", "1")
        #expect(try doorbell.wait(timeout: .milliseconds(200)) == false, "a key outside the queues")
        try fetchConnection.command("LPUSH", "queue:q7", "own")  // NOLOOP: our own writes ring nothing
        #expect(try doorbell.wait(timeout: .milliseconds(200)) == false)
        try producer.command("LPUSH", "queue:q40", "job")
        #expect(try doorbell.wait(timeout: .seconds(5)))
        doorbell.disarm(on: fetchConnection)
        #expect(doorbell.isArmed(on: fetchConnection) == false)
        try producer.command("LPUSH", "queue:q40", "job2")
        #expect(try doorbell.wait(timeout: .milliseconds(300)) == false, "disarmed: a busy queue costs no messages")
    }

    @Test("a reconnect of the fetch connection ends tracking; arming again works")
    func reconnectDisarms() throws {
        let (producer, url) = try TestEnvironment.isolatedRedis()
        let configuration = try RedisConfiguration(url: url)
        let fetchConnection = try RedisConnection(configuration)
        let doorbell = QueueDoorbell(configuration: configuration, queueKeys: ["queue:a", "queue:b"])
        defer { doorbell.close() }
        try doorbell.arm(on: fetchConnection)
        fetchConnection.close()
        try fetchConnection.command("PING")
        #expect(doorbell.isArmed(on: fetchConnection) == false)
        try doorbell.arm(on: fetchConnection)
        try producer.command("LPUSH", "queue:b", "job")
        #expect(try doorbell.wait(timeout: .seconds(5)))
    }
}
