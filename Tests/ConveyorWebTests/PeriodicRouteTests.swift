import ConveyorJSON
import ConveyorQueue
import ConveyorRedis
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@testable import ConveyorWeb

@Suite("Web admin: the Periodic page")
struct PeriodicRouteTests {
    static let evil = "<script>alert('x')</script>"

    /// The test's Redis connection, used by one test task at a time.
    struct Shared: @unchecked Sendable {
        let redis: RedisConnection
    }

    func fixture() throws -> (Shared, some ApplicationProtocol) {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let entry = try PeriodicEntry(name: "nightly", fields: [
            ("cron", "0 3 * * * Europe/Berlin"), ("class", "NoopJob"), ("args", [.string(Self.evil)]), ("description", .string("runs \(Self.evil)")),
        ], knownClasses: nil)
        try PeriodicStore.publish([entry], on: redis)
        let configuration = WebConfiguration(redis: try RedisConfiguration(url: redisURL), poolSize: 2)
        return (Shared(redis: redis), Application(router: try WebApplication.buildRouter(configuration: configuration)))
    }

    @Test("the page lists entries with their schedule, next run and buttons, escaped; the API and /metrics carry the same")
    func page() async throws {
        let (_, app) = try fixture()
        try await app.test(.router) { client in
            try await client.execute(uri: "/periodic", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(response.status == .ok)
                #expect(html.contains("nightly") && html.contains("0 3 * * * Europe/Berlin") && html.contains("NoopJob"))
                #expect(html.contains("Enqueue now") && html.contains("Pause") && html.contains("authenticity_token"))
                #expect(!html.contains(Self.evil) && html.contains("&lt;script&gt;"))
                #expect(html.contains("aria-current=\"page\">Periodic"))
            }
            try await client.execute(uri: "/api/periodic", method: .get) { response in
                let json = try JSONValue.parse(String(buffer: response.body))
                #expect(json[0]?["name"] == "nightly" && json[0]?["state"] == "active" && json[0]?["next_run"]?.doubleValue != nil)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("conveyor_periodic_ticks_enqueued_total{name=\"nightly\"} 0"), "\(text)")
                #expect(text.contains("conveyor_periodic_ticks_skipped_total{name=\"nightly\",reason=\"paused\"} 0"), "\(text)")
            }
        }
    }

    @Test("Pause, Resume and Enqueue now need the CSRF token and act on the shared state")
    func actions() async throws {
        let (shared, app) = try fixture()
        try await app.test(.router) { client in
            let redis = shared.redis
            let token = try await client.csrfToken()
            var response = try await client.post("/periodic/pause", token: nil, cookie: token, fields: [("name", "nightly")])
            #expect(response.status == .forbidden)
            #expect(try redis.command("HGET", PeriodicStore.state("nightly"), "paused").isNull)
            response = try await client.post("/periodic/pause", token: token, cookie: token, fields: [("name", "nightly")])
            #expect(response.status == .seeOther && response.headers[.location]?.hasPrefix("/periodic?notice=") == true)
            #expect(try redis.command("HGET", PeriodicStore.state("nightly"), "paused").string == "1")
            try await client.execute(uri: "/periodic", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains(">paused<") && html.contains("Resume"))
            }
            response = try await client.post("/periodic/resume", token: token, cookie: token, fields: [("name", "nightly")])
            #expect(try redis.command("HGET", PeriodicStore.state("nightly"), "paused").isNull)
            response = try await client.post("/periodic/enqueue", token: token, cookie: token, fields: [("name", "nightly")])
            #expect(response.status == .seeOther)
            #expect(try redis.command("LLEN", "queue:default").int == 1)
            response = try await client.post("/periodic/pause", token: token, cookie: token, fields: [("name", "nope")])
            #expect(response.headers[.location]?.contains("No%20periodic%20entry") == true, "\(response.headers)")
        }
    }

    @Test("/metrics counts the ticks the claim script recorded: enqueued, skipped while paused, passed over after downtime")
    func metricsAfterTicks() async throws {
        let (shared, app) = try fixture()
        let redis = shared.redis
        let entry = try #require(try PeriodicStore.entry("nightly", on: redis))
        let now = Int64(try redis.command("TIME").array?.first?.string ?? "0")!
        #expect(try PeriodicStore.setPaused("nightly", true, on: redis))
        #expect(try PeriodicStore.claim(entry, tick: now - 30, baseline: now - 31, missed: 0, now: Double(now), on: redis).0 == .paused)
        #expect(try PeriodicStore.setPaused("nightly", false, on: redis))
        // Two ticks that enqueue; the second passed over 4 missed ticks (counted once, not enqueued).
        for (tick, baseline, missed) in [(now - 20, now - 30, 0), (now - 1, now - 20, 4)] {
            if case .enqueued = try PeriodicStore.claim(entry, tick: tick, baseline: baseline, missed: missed, now: Double(now), on: redis).0 {} else {
                Issue.record("tick \(tick) did not enqueue")
            }
        }
        #expect(try redis.command("LLEN", "queue:default").int == 2)
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("conveyor_periodic_ticks_enqueued_total{name=\"nightly\"} 2"), "\(text)")
                #expect(text.contains("conveyor_periodic_ticks_skipped_total{name=\"nightly\",reason=\"paused\"} 1"), "\(text)")
                #expect(text.contains("conveyor_periodic_ticks_skipped_total{name=\"nightly\",reason=\"missed\"} 4"), "\(text)")
                #expect(text.contains("conveyor_periodic_ticks_skipped_total{name=\"nightly\",reason=\"duplicate\"} 0"), "\(text)")
                #expect(text.contains("conveyor_periodic_paused{name=\"nightly\"} 0"), "\(text)")
            }
        }
    }
}
