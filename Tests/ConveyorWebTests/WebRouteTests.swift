import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TestSupport

@testable import ConveyorWeb

/// A web app over its own Redis database and PostgreSQL schema, with sample data.
struct WebFixture: @unchecked Sendable {  // used by one test task at a time
    let redis: RedisConnection
    let db: PostgresConnection
    let configuration: WebConfiguration
    let activeID: Int64
    let failedID: Int64
    let failedJobID: Int64
    static let evil = "<script>alert('x')</script>"

    init(password: String? = nil) throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "web")
        self.redis = redis
        self.db = db
        configuration = WebConfiguration(
            password: password, redis: try RedisConfiguration(url: redisURL), postgres: PostgresConfiguration(connectionString: databaseURL), poolSize: 2)
        // Queues, sets and a process.
        let client = QueueClient(redis: redis)
        try client.enqueue("NoopJob", args: [1, .string(Self.evil)])
        try client.enqueue("SleepJob", args: [5], queue: "slow")
        try client.enqueue("LaterJob", args: ["later"], at: Timestamp.now() + 3600)
        var retry = JobPayload(className: "FailJob", args: ["r"], queue: "default")
        retry.object["error_class"] = "RuntimeError"
        retry.object["error_message"] = .string("boom \(Self.evil)")
        retry.object["retry_count"] = 2
        try redis.command("ZADD", "retry", Timestamp.now() + 60, retry.json)
        var dead = JobPayload(className: "FailJob", args: ["d"], queue: "default")
        dead.object["error_message"] = "dead and gone"
        try redis.command("ZADD", "dead", Timestamp.now(), dead.json)
        try redis.command("SADD", "processes", "host:1:abc")
        try redis.command("HSET", "host:1:abc", "info", #"{"hostname":"host","pid":1,"started_at":1700000000.0,"concurrency":5,"queues":["default"],"tag":"","identity":"host:1:abc"}"#,
                          "busy", 1, "beat", Timestamp.now(), "quiet", "false", "rss", 20480, "concurrency", 5)
        try redis.command("HSET", "host:1:abc:work", "p0", #"{"queue":"slow","payload":"{\"class\":\"SleepJob\",\"args\":[5],\"jid\":\"aaaaaaaaaaaaaaaaaaaaaaaa\"}","run_at":1700000000}"#)
        // Migrations: one active, one failed with an HTML-shaped error in its log.
        try MigrationFixtures.createEvents(db, rows: 3000)
        try db.execute("CREATE TABLE other (id serial PRIMARY KEY, a int, b bigint); INSERT INTO other (a) SELECT g FROM generate_series(1, 2000) g;")
        try Schema.setUp(db)
        let store = BatchedMigrationStore(db: db)
        var options = BatchedMigrationStore.QueueOptions()
        options.interval = 0
        activeID = try store.queue(.init(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "events", columnName: "id", jobArguments: [["id"], ["id_convert_to_bigint"]]), options: options, jobs: .builtIn).id
        let failed = try store.queue(.init(jobClassName: "CopyColumnUsingBackgroundMigrationJob", tableName: "other", columnName: "id", jobArguments: [["a"], ["b"]]), options: options, jobs: .builtIn)
        failedID = failed.id
        let job = try store.createJob(for: failed, min: 1, max: 1000)
        let running = try store.transition(job, to: .running)
        failedJobID = try store.transition(running, to: .failed, exceptionClass: "PG::Error", exceptionMessage: "kaput \(Self.evil)").id
        try db.query("UPDATE batched_background_migration_jobs SET attempts = 3 WHERE id = \(failedJobID)")
        try store.apply(.failure, to: failedID)
        let runner = BatchedMigrationRunner(db: db, jobs: .builtIn, logger: Logger(label: "test"))
        _ = try runner.withTableLease("events") { try runner.runStep(try store.require(activeID), settings: MigrationSettings(), adjust: false) }
    }

    func app() throws -> some ApplicationProtocol {
        Application(router: try WebApplication.buildRouter(configuration: configuration))
    }
}

extension TestClientProtocol {
    /// GETs `/` and returns the CSRF token from the cookie it sets.
    func csrfToken() async throws -> String {
        try await execute(uri: "/", method: .get) { response in
            let cookie = response.headers[values: .setCookie].first { $0.hasPrefix("conveyor_csrf=") } ?? ""
            return String(cookie.dropFirst("conveyor_csrf=".count).prefix { $0 != ";" })
        }
    }

    func post(_ uri: String, token: String?, cookie: String?, fields: [(String, String)] = []) async throws -> TestResponse {
        var body = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }
        if let token { body.append("authenticity_token=\(token)") }
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie { headers[.cookie] = "conveyor_csrf=\(cookie)" }
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body.joined(separator: "&")))
    }
}

@Suite("Web admin routes")
struct WebRouteTests {
    @Test("every page renders, with a strict CSP and escaped user data")
    func pages() async throws {
        let fixture = try WebFixture()
        let pages: [(String, [String])] = [
            ("/", ["Dashboard", "Processed", "host:1", "default"]),
            ("/busy", ["Running jobs", "SleepJob", "slow"]),
            ("/queues", ["default", "slow"]),
            ("/queues/default", ["NoopJob", "Delete"]),
            ("/scheduled", ["LaterJob", "Add to queue"]),
            ("/retries", ["FailJob", "RuntimeError", "Retry now", "retried 2×"]),
            ("/dead", ["dead and gone", "Retry"]),
            ("/admin/background_migrations", ["CopyColumnUsingBackgroundMigrationJob: events", "Queued", "Pause"]),
            ("/admin/background_migrations?tab=failed", ["CopyColumnUsingBackgroundMigrationJob: other", "Retry"]),
            ("/admin/background_migrations?tab=finalizing", ["No finalizing migrations"]),
            ("/admin/background_migrations?tab=finished", ["No finished migrations"]),
            ("/admin/background_migrations/\(fixture.activeID)", ["Batching", "Keys", "Batch size", "Sub-batch size", "Interval", "<svg", "No failed jobs"]),
            ("/admin/background_migrations/\(fixture.failedID)", ["Failed jobs", "kaput"]),
            ("/admin/background_migrations/\(fixture.failedID)/batched_jobs/\(fixture.failedJobID)", ["Transition logs", "PG::Error", "Attempts"]),
        ]
        try await fixture.app().test(.router) { client in
            for (uri, expected) in pages {
                try await client.execute(uri: uri, method: .get) { response in
                    let html = String(buffer: response.body)
                    #expect(response.status == .ok, "\(uri): \(html.prefix(300))")
                    #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true, "\(uri)")
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                    for text in expected { #expect(html.contains(text), "\(uri) should show \(text)") }
                    #expect(!html.contains("<script"), "\(uri) contains unescaped markup")
                    #expect(!html.contains("style=\""), "\(uri) uses inline styles the CSP forbids")
                }
            }
            // The HTML-shaped error message is shown escaped.
            try await client.execute(uri: "/retries", method: .get) { response in
                #expect(String(buffer: response.body).contains("boom &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
            }
            try await client.execute(uri: "/admin/background_migrations/\(fixture.failedID)/batched_jobs/\(fixture.failedJobID)", method: .get) { response in
                #expect(String(buffer: response.body).contains("kaput &lt;script&gt;"))
            }
            try await client.execute(uri: "/admin/background_migrations?tab=queued", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("Queued <span class=\"count\">1</span>"))
                #expect(html.contains("Failed <span class=\"count\">1</span>"))
            }
            try await client.execute(uri: "/assets/conveyor.css", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/css") == true)
            }
            try await client.execute(uri: "/admin/background_migrations/99999", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentSecurityPolicy] != nil)
            }
            try await client.execute(uri: "/?refresh=5", method: .get) { response in
                #expect(String(buffer: response.body).contains("<meta http-equiv=\"refresh\" content=\"5\">"))
            }
        }
    }

    @Test("POST without the CSRF token (or with another one) is refused and changes nothing")
    func csrfRefused() async throws {
        let fixture = try WebFixture()
        try await fixture.app().test(.router) { client in
            let token = try await client.csrfToken()
            #expect(token.count == 64)
            let other = (token.hasPrefix("f") ? "0" : "f") + token.dropFirst()
            for (sent, cookie) in [(nil, token), (other, token), (token, nil)] as [(String?, String?)] {
                let response = try await client.post("/admin/background_migrations/\(fixture.activeID)/pause", token: sent, cookie: cookie)
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("CSRF"))
            }
        }
        #expect(try BatchedMigrationStore(db: fixture.db).require(fixture.activeID).status == .active)
    }

    @Test("migration actions: pause, resume, retry")
    func migrationActions() async throws {
        let fixture = try WebFixture()
        try await fixture.app().test(.router) { client in
            let store = BatchedMigrationStore(db: fixture.db)
            let token = try await client.csrfToken()
            var response = try await client.post("/admin/background_migrations/\(fixture.activeID)/pause", token: token, cookie: token, fields: [("return_to", "/admin/background_migrations?tab=queued")])
            #expect(response.status == .seeOther)
            #expect(response.headers[.location]?.hasPrefix("/admin/background_migrations?tab=queued&notice=") == true)
            #expect(try store.require(fixture.activeID).status == .paused)
            response = try await client.post("/admin/background_migrations/\(fixture.activeID)/resume", token: token, cookie: token)
            #expect(try store.require(fixture.activeID).status == .active)
            response = try await client.post("/admin/background_migrations/\(fixture.failedID)/retry", token: token, cookie: token, fields: [("return_to", "//evil.example/")])
            #expect(response.headers[.location]?.hasPrefix("/admin/background_migrations?notice=") == true, "an off-site return_to is ignored")
            #expect(try store.require(fixture.failedID).status == .active)
            #expect(try store.job(fixture.failedJobID)?.attempts == 0)
            // Retrying an active migration is refused with a message, not an error page.
            response = try await client.post("/admin/background_migrations/\(fixture.activeID)/retry", token: token, cookie: token)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location]?.contains("retry%20only%20failed") == true)
        }
    }

    @Test("queue actions: retry now, kill, delete; dead retry; scheduled add-to-queue; delete a queued job; clear a queue; quiet and stop")
    func queueActions() async throws {
        let fixture = try WebFixture()
        try await fixture.app().test(.router) { client in
            let redis = fixture.redis
            let api = QueueAPI(redis: redis)
            let token = try await client.csrfToken()
            let retry = try #require(try api.entries(in: .retries, offset: 0, limit: 1).first)
            _ = try await client.post("/retries/retry", token: token, cookie: token, fields: [("key", retry.key)])
            #expect(try api.size(of: .retries) == 0)
            let requeued = try api.jobs(inQueue: "default", offset: 0, limit: 10).first { $0.payload?.className == "FailJob" }
            #expect(requeued?.payload?.retryCount == 1, "a manual retry does not use up an attempt")

            let dead = try #require(try api.entries(in: .dead, offset: 0, limit: 1).first)
            _ = try await client.post("/dead/retry", token: token, cookie: token, fields: [("key", dead.key)])
            #expect(try api.size(of: .dead) == 0)

            let scheduled = try #require(try api.entries(in: .scheduled, offset: 0, limit: 1).first)
            _ = try await client.post("/scheduled/enqueue", token: token, cookie: token, fields: [("key", scheduled.key)])
            #expect(try api.size(of: .scheduled) == 0)
            #expect(try api.jobs(inQueue: "default", offset: 0, limit: 10).contains { $0.payload?.className == "LaterJob" })

            var again = JobPayload(className: "FailJob", args: [], queue: "default")
            again.object["retry_count"] = 0
            try redis.command("ZADD", "retry", 100.5, again.json)
            _ = try await client.post("/retries/kill", token: token, cookie: token, fields: [("key", "100.5-\(again.jid)")])
            #expect(try api.size(of: .retries) == 0)
            #expect(try api.size(of: .dead) == 1)
            let killed = try #require(try api.entries(in: .dead, offset: 0, limit: 1).first)
            _ = try await client.post("/dead/delete", token: token, cookie: token, fields: [("key", killed.key)])
            #expect(try api.size(of: .dead) == 0)

            let noop = try #require(try api.jobs(inQueue: "default", offset: 0, limit: 10).first { $0.payload?.className == "NoopJob" })
            let deleted = try await client.post("/queues/default/delete", token: token, cookie: token, fields: [("jid", noop.jid)])
            #expect(deleted.headers[.location]?.contains("Deleted%20job") == true)
            #expect(try !api.jobs(inQueue: "default", offset: 0, limit: 10).contains { $0.jid == noop.jid })
            _ = try await client.post("/queues/slow/clear", token: token, cookie: token)
            #expect(try redis.command("LLEN", "queue:slow").int == 0)
            #expect(try !api.queues().contains { $0.name == "slow" })

            _ = try await client.post("/processes/quiet", token: token, cookie: token, fields: [("identity", "host:1:abc")])
            _ = try await client.post("/processes/stop", token: token, cookie: token, fields: [("identity", "host:1:abc")])
            #expect(try redis.command("LRANGE", "host:1:abc-signals", 0, -1).strings == ["TERM", "TSTP"])
            let bad = try await client.post("/retries/explode", token: token, cookie: token, fields: [("key", "1-x")])
            #expect(bad.status == .notFound)
            let malformed = try await client.post("/retries/delete", token: token, cookie: token, fields: [("key", "nonsense")])
            #expect(malformed.status == .badRequest)
        }
    }

    @Test("the JSON API mirrors the pages")
    func api() async throws {
        let fixture = try WebFixture()
        try await fixture.app().test(.router) { client in
            func get(_ uri: String) async throws -> JSONValue {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri)")
                    #expect(response.headers[.contentType] == "application/json")
                    return try JSONValue.parse(String(buffer: response.body))
                }
            }
            #expect(try await get("/api/stats")["retries"]?.intValue == 1)
            #expect(try await get("/api/queues").arrayValue?.count == 2)
            #expect(try await get("/api/queues/default")["jobs"]?[0]?["job"]?["class"]?.stringValue == "NoopJob")
            #expect(try await get("/api/scheduled")["size"]?.intValue == 1)
            #expect(try await get("/api/retries")["entries"]?[0]?["job"]?["error_class"]?.stringValue == "RuntimeError")
            #expect(try await get("/api/dead")["size"]?.intValue == 1)
            #expect(try await get("/api/processes")[0]?["identity"]?.stringValue == "host:1:abc")
            #expect(try await get("/api/busy")[0]?["job"]?["class"]?.stringValue == "SleepJob")
            let migrations = try await get("/api/background_migrations?tab=failed")
            #expect(migrations["counts"]?["queued"]?.intValue == 1)
            #expect(migrations["migrations"]?[0]?["id"]?.int64Value == fixture.failedID)
            #expect(try await get("/api/background_migrations/\(fixture.failedID)")["failed_jobs"]?[0]?["id"]?.int64Value == fixture.failedJobID)
            let job = try await get("/api/background_migrations/\(fixture.failedID)/batched_jobs/\(fixture.failedJobID)")
            #expect(job["transition_logs"]?.arrayValue?.count == 2)
            try await client.execute(uri: "/api/background_migrations/424242", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try JSONValue.parse(String(buffer: response.body))
                #expect(body["error"]?["message"] != nil)
            }
        }
    }

    @Test("/metrics has queue, counter and migration metrics in Prometheus text")
    func metrics() async throws {
        let fixture = try WebFixture()
        try await fixture.app().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.status == .ok)
                #expect(text.contains("conveyor_queue_size{queue=\"default\"} 1"))
                #expect(text.contains("conveyor_retry_jobs 1"))
                #expect(text.contains("conveyor_processed_total"))
                #expect(text.contains("conveyor_batched_migration_status{id=\"\(fixture.failedID)\""))
                #expect(text.contains("conveyor_batched_migration_progress_percent"))
                #expect(text.contains("conveyor_batched_migration_batch_duration_seconds_bucket"))
            }
        }
    }

    @Test("with a password, every page needs it")
    func password() async throws {
        let fixture = try WebFixture(password: "s3cret")
        try await fixture.app().test(.router) { client in
            for uri in ["/", "/metrics", "/api/stats", "/admin/background_migrations"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                }
            }
            let good = "Basic " + Data("admin:s3cret".utf8).base64EncodedString()
            let bad = "Basic " + Data("admin:nope".utf8).base64EncodedString()
            try await client.execute(uri: "/", method: .get, headers: [.authorization: bad]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/", method: .get, headers: [.authorization: good]) { #expect($0.status == .ok) }
        }
    }

    @Test("binding beyond loopback without a password is refused; --bind parses")
    func bindRules() throws {
        #expect(throws: WebConfiguration.Refused.self) { try WebConfiguration(host: "0.0.0.0").validate() }
        #expect(throws: WebConfiguration.Refused.self) { try WebConfiguration(host: "10.1.2.3", password: "").validate() }
        try WebConfiguration(host: "0.0.0.0", password: "x").validate()
        try WebConfiguration(host: "127.0.0.1").validate()
        try WebConfiguration(host: "::1").validate()
        #expect(try WebConfiguration.parseBind("0.0.0.0:8080") == ("0.0.0.0", 8080))
        #expect(try WebConfiguration.parseBind(":7000") == ("127.0.0.1", 7000))
        #expect(try WebConfiguration.parseBind("[::1]:9000") == ("::1", 9000))
        #expect(throws: WebConfiguration.Refused.self) { try WebConfiguration.parseBind("host:notaport") }
    }
}
