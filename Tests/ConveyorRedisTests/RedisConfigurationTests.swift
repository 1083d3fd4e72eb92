@testable import ConveyorRedis
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

@Suite("Redis URL parsing")
struct RedisURLTests {
    @Test("splits scheme, user info, host, port, path and query, percent-decoding")
    func parts() throws {
        let url = try RedisURL("Redis://us%3Aer:p%40ss%2Fw@cache.internal:6380/4?db=2&password=a%26b&flag#ignored")
        #expect(url.scheme == "redis")
        #expect(url.user == "us:er")
        #expect(url.password == "p@ss/w")
        #expect(url.host == "cache.internal")
        #expect(url.port == 6380)
        #expect(url.path == "/4")
        #expect(url.query.map(\.name) == ["db", "password", "flag"])
        #expect(url.query.map(\.value) == ["2", "a&b", ""])
    }

    @Test("IPv6 hosts in brackets, with and without a port")
    func ipv6() throws {
        let withPort = try RedisURL("redis://[::1]:6390/0")
        #expect(withPort.host == "::1")
        #expect(withPort.port == 6390)
        let without = try RedisURL("redis://[fe80::1]")
        #expect(without.host == "fe80::1")
        #expect(without.port == nil)
        let configuration = try RedisConfiguration(url: "redis://[::1]:6390/2")
        #expect(configuration.endpoint == .tcp(host: "::1", port: 6390))
        #expect(configuration.database == 2)
    }

    @Test("unix sockets keep the path; an @ in the password is taken from the last @")
    func unixAndAt() throws {
        let socket = try RedisURL("unix:///var/run/redis/redis.sock?db=5")
        #expect(socket.host == "")
        #expect(socket.path == "/var/run/redis/redis.sock")
        let at = try RedisURL("redis://user:p@ss@host:1")
        #expect(at.user == "user")
        #expect(at.password == "p@ss")
        #expect(at.host == "host")
    }

    @Test("refuses what is not a URL", arguments: [
        "localhost:6379", "redis:/x", "://host", "redis://host:port", "redis://[::1", "redis://[::1]x", "redis://h/%zz", "redis://u:%ff@h",
    ])
    func invalid(_ text: String) {
        #expect(throws: RedisURL.Invalid.self) { try RedisURL(text) }
    }
}
