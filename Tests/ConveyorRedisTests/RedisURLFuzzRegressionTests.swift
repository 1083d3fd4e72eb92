@testable import ConveyorRedis
import Testing

/// Inputs scripts/fuzz found, kept as regression tests.
@Suite("Fuzz regressions: REDIS_URL")
struct RedisURLFuzzRegressionTests {
    @Test("a host of only brackets falls back to the default host instead of an empty one (redis_url crash c41465e3)")
    func bracketsOnlyHost() throws {
        let c = try RedisConfiguration(url: "redis://]?tb=3333397878&333333w")
        #expect(c.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(try RedisConfiguration(url: "redis://[]:6380").endpoint == .tcp(host: "127.0.0.1", port: 6380))
    }

    @Test("?username= (empty) is no username, like an empty userinfo user")
    func emptyQueryUsername() throws {
        let c = try RedisConfiguration(url: "redis://h?username=&password=pw")
        #expect(c.username == nil)
        #expect(c.password == "pw")
        #expect(try RedisConfiguration(url: "redis://@h").username == nil)
    }

    @Test("a password containing '@' and ':' written unencoded: the last '@' ends the userinfo, the first ':' the user")
    func atInPassword() throws {
        let c = try RedisConfiguration(url: "redis://u:p@ss:w@host:1/2")
        #expect(c.username == "u")
        #expect(c.password == "p@ss:w")
        #expect(c.endpoint == .tcp(host: "host", port: 1))
        #expect(c.database == 2)
        #expect(!c.displayName.contains("p@ss"))
    }
}
