import ConveyorRedis
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@testable import ConveyorWeb

@Suite("Web health probes")
struct HealthRouteTests {
    @Test("/healthz and /readyz answer 200 without the password while Redis answers")
    func up() async throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let configuration = WebConfiguration(password: "s3cret", redis: try RedisConfiguration(url: redisURL))
        try await Application(router: try WebApplication.buildRouter(configuration: configuration)).test(.router) { client in
            for path in ["/healthz", "/readyz"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(String(buffer: response.body) == "ok\n")
                    #expect(response.headers[.contentSecurityPolicy] != nil)
                }
            }
            // Everything else still needs the password.
            try await client.execute(uri: "/", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    @Test("/healthz and /readyz answer 503 with the reason while Redis does not answer")
    func down() async throws {
        let port = try PrivateRedisServer.freePort()  // nothing listens there
        let configuration = WebConfiguration(redis: try RedisConfiguration(url: "redis://127.0.0.1:\(port)/0"))
        try await Application(router: try WebApplication.buildRouter(configuration: configuration)).test(.router) { client in
            for path in ["/healthz", "/readyz"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    #expect(String(buffer: response.body).hasPrefix("redis does not answer"), "\(String(buffer: response.body))")
                }
            }
        }
    }
}
