import ConveyorRedis
import Testing

@Suite("REDIS_URL parsing")
struct RedisConfigurationTests {
    @Test("host, port, database, user and percent-encoded password")
    func fullURL() throws {
        let c = try RedisConfiguration(url: "redis://app:p%40ss@cache.internal:6380/4")
        #expect(c.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(c.username == "app")
        #expect(c.password == "p@ss")
        #expect(c.database == 4)
        #expect(!c.displayName.contains("p@ss"))
    }

    @Test("defaults: 127.0.0.1:6379, database 0, no credentials; password-only URLs")
    func defaults() throws {
        let c = try RedisConfiguration(url: "redis://")
        #expect(c.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(c.database == 0)
        #expect(c.password == nil)
        let p = try RedisConfiguration(url: "redis://:secret@localhost")
        #expect(p.username == nil)
        #expect(p.password == "secret")
    }

    @Test("unix sockets with db and password in the query")
    func unixURL() throws {
        let c = try RedisConfiguration(url: "unix:///run/redis.sock?db=3&password=x")
        #expect(c.endpoint == .unix(path: "/run/redis.sock"))
        #expect(c.database == 3)
        #expect(c.password == "x")
    }

    @Test("rediss:// is refused with a message that explains why")
    func tlsRefused() {
        let error = #expect(throws: RedisError.self) { try RedisConfiguration(url: "rediss://host:6380") }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("TLS") == true)
    }

    @Test("garbage and bad databases are refused")
    func garbage() {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "http://x") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://host/notanumber") }
    }

    @Test("Sentinel from REDIS_SENTINELS and REDIS_SENTINEL_MASTER")
    func sentinelEnvironment() throws {
        let c = try RedisConfiguration.fromEnvironment([
            "REDIS_URL": "redis://:pw@ignored/2", "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380",
            "REDIS_SENTINEL_MASTER": "main",
        ])
        #expect(c.endpoint == .sentinel(
            sentinels: [.init(host: "10.0.0.1", port: 26379), .init(host: "10.0.0.2", port: 26380)], master: "main"))
        #expect(c.password == "pw")
        #expect(c.database == 2)
    }
}
