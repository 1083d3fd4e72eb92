import ConveyorMetrics
import ConveyorMigrations
import ConveyorQueue
import Foundation
import Hummingbird
import Logging

/// Builds the admin web application: the Sidekiq-style dashboard, GitLab's Background
/// Migrations pages, `/api/…`, `/metrics` and the `/healthz`, `/readyz` probes. Tests call
/// this directly.
public enum WebApplication {
    public static func buildRouter(configuration: WebConfiguration, batchedJobs: BatchedJobRegistry = .builtIn) throws -> Router<AdminContext> {
        let pool = ConnectionPool(configuration: configuration)
        var footer = ["redis": configuration.redis.displayName]
        if let postgres = configuration.postgres { footer["database"] = postgres.displayName }
        let renderer = Renderer(library: try Templates.library(), footer: footer)
        let queues = QueuePages(pool: pool, renderer: renderer)
        let migrations = MigrationPages(pool: pool, renderer: renderer, batchedJobs: batchedJobs)
        let api = APIRoutes(pool: pool)
        let periodic = PeriodicPages(pool: pool, renderer: renderer)

        let router = Router(context: AdminContext.self)
        // Middleware first: it applies to routes added after it.
        router.add(middleware: SecurityHeadersMiddleware())
        // Probes come before the password and CSRF middleware: Kubernetes cannot send the
        // password, and they reveal nothing.
        let health = HealthRoutes(probe: RedisProbe(configuration.redis, clientName: "conveyor-web-probe"))
        router.get("/healthz") { _, _ in await health.reply() }
        router.get("/readyz") { _, _ in await health.reply() }
        router.add(middleware: ErrorPageMiddleware(renderer: renderer))
        if let password = configuration.password, !password.isEmpty { router.add(middleware: PasswordMiddleware(password: password)) }
        router.add(middleware: CSRFMiddleware())
        router.add(middleware: AuditMiddleware(pool: pool))

        router.get("/assets/conveyor.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: Templates.stylesheet)))
        }
        router.get("/") { request, context in try await queues.dashboard(request, context) }
        router.get("/busy") { request, context in try await queues.busy(request, context) }
        router.get("/queues") { request, context in try await queues.queues(request, context) }
        router.get("/queues/:name") { request, context in try await queues.queue(request, context) }
        router.post("/queues/:name/delete") { _, context in try await queues.deleteQueued(context) }
        router.post("/queues/:name/clear") { _, context in try await queues.clearQueue(context) }
        for (path, set) in [("scheduled", QueueAPI.SortedSet.scheduled), ("retries", .retries), ("dead", .dead)] {
            router.get("/\(path)") { request, context in try await queues.sortedSet(set, request, context) }
            router.post("/\(path)/:action") { _, context in
                let action = try context.parameters.require("action")
                let allowed: [String] = set == .scheduled ? ["delete", "enqueue", "clear"] : set == .retries ? ["delete", "retry", "kill", "clear"] : ["delete", "retry", "clear"]
                guard allowed.contains(action) else { throw HTTPError(.notFound) }
                return try await queues.setAction(set, action, context, path: "/\(path)")
            }
        }
        router.post("/processes/quiet") { _, context in try await queues.signalProcess("TSTP", context) }
        router.post("/processes/stop") { _, context in try await queues.signalProcess("TERM", context) }

        router.get("/periodic") { request, context in try await periodic.list(request, context) }
        for action in ["enqueue", "pause", "resume"] {
            router.post("/periodic/\(action)") { _, context in try await periodic.action(action, context) }
        }

        router.get("/admin/background_migrations") { request, context in try await migrations.list(request, context) }
        router.get("/admin/background_migrations/:id") { request, context in try await migrations.show(request, context) }
        router.get("/admin/background_migrations/:id/batched_jobs/:job") { request, context in try await migrations.job(request, context) }
        for action in ["pause", "resume", "retry", "update"] {
            router.post("/admin/background_migrations/:id/\(action)") { request, context in try await migrations.action(action, request, context) }
        }

        router.get("/api/stats") { _, _ in try await api.stats() }
        router.get("/api/processes") { _, _ in try await api.processes() }
        router.get("/api/busy") { _, _ in try await api.busy() }
        router.get("/api/queues") { _, _ in try await api.queues() }
        router.get("/api/queues/:name") { request, context in try await api.queue(request, context) }
        router.get("/api/scheduled") { request, _ in try await api.sortedSet(.scheduled, request) }
        router.get("/api/retries") { request, _ in try await api.sortedSet(.retries, request) }
        router.get("/api/dead") { request, _ in try await api.sortedSet(.dead, request) }
        router.get("/api/periodic") { _, _ in try await periodic.api() }
        router.get("/api/background_migrations") { request, _ in try await api.migrations(request) }
        router.get("/api/background_migrations/:id") { _, context in try await api.migration(context) }
        router.get("/api/background_migrations/:id/batched_jobs/:job") { _, context in try await api.job(context) }

        router.get("/metrics") { _, _ in
            let text = try await pool.run { c in try ClusterMetrics.render(redis: try c.redis(), db: try? c.postgres()) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    /// The application for `conveyor web`; refuses an unsafe bind.
    public static func build(configuration: WebConfiguration, batchedJobs: BatchedJobRegistry = .builtIn, logger: Logger,
                             onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        try configuration.validate()
        let router = try buildRouter(configuration: configuration, batchedJobs: batchedJobs)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Conveyor"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

/// Turns errors into pages (HTML) or JSON (under /api), with a clear message and no
/// internals; connection failures become 503.
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let renderer: Renderer

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (status, message): (HTTPResponse.Status, String)
            if let http = error as? HTTPError {
                status = http.status
                message = http.body ?? (http.status == .notFound ? "Not found." : http.status.reasonPhrase)
            } else if let redis = error as? ConveyorRedisErrorDescribing, redis.isUnavailable {
                (status, message) = (.serviceUnavailable, redis.text)
            } else {
                status = .internalServerError
                message = String(describing: error)
                context.logger.error("request failed", metadata: ["path": .string(request.uri.path), "error": .string(message)])
            }
            if request.uri.path.hasPrefix("/api/") || request.uri.path == "/metrics" {
                return APIRoutes.json(["error": ["message": .string(message)]], status: status)
            }
            return renderer.page("error", title: status == .notFound ? "Not found" : "Error", section: "", request: request, values: ["message": message], status: status)
        }
    }
}
