import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import Foundation
import Hummingbird
import Logging

/// GitLab's Admin Area > Monitoring > Background Migrations.
struct MigrationPages: Sendable {
    let pool: ConnectionPool
    let renderer: Renderer
    let batchedJobs: BatchedJobRegistry

    enum Tab: String, CaseIterable {
        case queued, finalizing, failed, finished

        var statuses: [BatchedMigrationStatus] {
            switch self {
            case .queued: return [.active, .paused]
            case .finalizing: return [.finalizing]
            case .failed: return [.failed]
            case .finished: return [.finished, .finalized]
            }
        }

        var label: String { rawValue.capitalized }
    }

    struct Row: Sendable {
        let migration: BatchedMigration
        let progress: MigrationProgress
    }

    struct Listing: Sendable {
        let rows: [Row]
        let counts: [Tab: Int]
        let enabled: Bool
    }

    static func badge(_ status: BatchedMigrationStatus) -> String {
        switch status {
        case .active, .finalizing: return "info"
        case .paused: return "warning"
        case .failed: return "danger"
        case .finished, .finalized: return "success"
        }
    }

    static func database(_ c: ConnectionPool.Connections) throws -> PostgresConnection {
        guard let db = try c.postgres() else {
            throw HTTPError(.serviceUnavailable, message: "No database configured: set DATABASE_URL to see batched background migrations.")
        }
        try Schema.setUp(db)
        return db
    }

    static func listing(_ tab: Tab, _ c: ConnectionPool.Connections) throws -> Listing {
        let db = try database(c)
        let store = BatchedMigrationStore(db: db)
        let byStatus = try store.countByStatus()
        var counts: [Tab: Int] = [:]
        for tab in Tab.allCases { counts[tab] = tab.statuses.reduce(0) { $0 + (byStatus[$1] ?? 0) } }
        // GitLab lists finished migrations newest first, the others oldest first.
        let migrations = try store.list(statuses: tab.statuses, descending: tab == .finished)
        let rows = try migrations.map { Row(migration: $0, progress: try MigrationProgress.measure($0, db: db)) }
        return Listing(rows: rows, counts: counts, enabled: try MigrationSettings.load(db).executeOnSchedule)
    }

    func actions(_ migration: BatchedMigration, _ context: AdminContext, returnTo: String) -> [[String: Any]] {
        let base = "/admin/background_migrations/\(migration.id)"
        switch migration.status {
        case .active: return [Renderer.button("\(base)/pause", "Pause", context: context, returnTo: returnTo)]
        case .paused: return [Renderer.button("\(base)/resume", "Resume", context: context, returnTo: returnTo, style: "primary")]
        case .failed: return [Renderer.button("\(base)/retry", "Retry", context: context, returnTo: returnTo, style: "primary")]
        default: return []
        }
    }

    func list(_ request: Request, _ context: AdminContext) async throws -> Response {
        let tab = request.uri.queryParameters["tab"].flatMap { Tab(rawValue: String($0)) } ?? .queued
        let listing = try await pool.run { c in try Self.listing(tab, c) }
        let returnTo = "/admin/background_migrations?tab=\(tab.rawValue)"
        return renderer.page("migrations", title: "Background Migrations", section: "migrations", request: request, values: [
            "disabled": !listing.enabled, "tabName": tab.rawValue,
            "tabs": Tab.allCases.map { ["label": $0.label, "href": "/admin/background_migrations?tab=\($0.rawValue)", "active": $0 == tab, "count": String(listing.counts[$0] ?? 0)] as [String: Any] },
            "migrations": listing.rows.map { row -> [String: Any] in
                let m = row.migration
                var values: [String: Any] = [
                    "id": String(m.id), "href": "/admin/background_migrations/\(m.id)", "jobClassName": m.jobClassName,
                    "tableName": m.tableName, "columnName": m.cursorColumns.map { "(" + $0.joined(separator: ", ") + ")" } ?? m.columnName, "jobArguments": WebFormat.arguments(m.jobArguments, limit: 120),
                    "progress": WebFormat.percent(row.progress.percent), "progressValue": String(format: "%.1f", row.progress.percent ?? 0),
                    "status": m.status.name, "badge": Self.badge(m.status), "batchSize": WebFormat.number(m.batchSize),
                    "rowsPerSecond": row.progress.rowsPerSecond.map { WebFormat.number(Int($0)) } ?? "-",
                    "eta": WebFormat.eta(row.progress),
                    "actions": actions(m, context, returnTo: returnTo),
                ]
                if m.isOnHold { values["onHold"] = WebFormat.time(m.onHoldUntil) }
                if let throttle = m.throttle { values["onHold"] = "throttled: \(throttle)" }
                return values
            },
        ])
    }

    struct Detail: Sendable {
        let migration: BatchedMigration
        let progress: MigrationProgress
        let recent: [BatchedJob]
        let failed: [(BatchedJob, BatchedJobTransitionLog?)]
        let history: [AuditLog.Entry]
    }

    func show(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let detail = try await pool.run { c -> Detail in
            let db = try Self.database(c)
            let store = BatchedMigrationStore(db: db)
            guard let migration = try store.find(id) else { throw HTTPError(.notFound, message: "No batched background migration with id \(id).") }
            let failed = try store.jobs(of: id, status: .failed).map { job in
                (job, try store.transitionLogs(of: job.id).last { $0.exceptionClass != nil })
            }
            let recent = try store.jobs(of: id, limit: 60, newestFirst: true).filter { $0.status == .succeeded || $0.status == .failed }
            return Detail(
                migration: migration, progress: try MigrationProgress.measure(migration, db: db), recent: recent.reversed(), failed: failed,
                history: try AuditLog.history(db, migrationID: id, limit: 200))
        }
        let m = detail.migration
        var fields: [(String, String)] = [
            ("ID", String(m.id)), ("Job class", m.jobClassName), ("Table", m.tableName), ("Column", m.columnName),
            ("Job arguments", m.jobArguments.serialized()), ("Status", m.status.name + (m.isOnHold ? ", on hold until \(WebFormat.time(m.onHoldUntil))" : "")),
            ("Progress", WebFormat.percent(detail.progress.percent)), ("Rows/s", detail.progress.rowsPerSecond.map { WebFormat.number(Int($0)) } ?? "-"),
            ("ETA", WebFormat.eta(detail.progress)),
            ("Batching", (try? m.batching.description) ?? m.batchClassName), ("Keys", m.bounds?.description ?? "-"),
            ("Position", m.lastCursor?.description ?? detail.progress.lastKey.map(String.init) ?? "-"), ("Batch size", WebFormat.number(m.batchSize)),
            ("Sub-batch size", WebFormat.number(m.subBatchSize)), ("Max batch size", m.maxBatchSize.map(WebFormat.number) ?? "-"),
            ("Interval", "\(m.interval) s"), ("Pause", "\(m.pauseMilliseconds) ms"),
            ("Jobs", BatchedJobStatus.allCases.map { "\($0.name) \(detail.progress.jobCounts[$0] ?? 0)" }.joined(separator: ", ")),
            ("Created", WebFormat.time(m.createdAt)), ("Updated", WebFormat.time(m.updatedAt)),
            ("Started", WebFormat.time(m.startedAt)), ("Finished", WebFormat.time(m.finishedAt)),
            ("Finalize command", m.configuration.finalizeCommand),
        ]
        if let throttle = m.throttle { fields.append(("Throttled", throttle.description)) }
        let chart = Self.chart(detail.recent)
        let base = "/admin/background_migrations/\(m.id)"
        var values: [String: Any] = [
            "history": detail.history.reversed().map { entry -> [String: Any] in
                ["at": WebFormat.time(entry.at), "actor": entry.actor.label, "action": entry.action, "changes": entry.changesText]
            },
            "fields": fields.map { ["name": $0.0, "value": $0.1] },
            "actions": actions(m, context, returnTo: "/admin/background_migrations/\(m.id)"),
            "failedJobs": detail.failed.map { job, log -> [String: Any] in
                [
                    "id": String(job.id), "href": "/admin/background_migrations/\(m.id)/batched_jobs/\(job.id)",
                    "range": job.range.description, "batchSize": WebFormat.number(job.batchSize), "attempts": String(job.attempts),
                    "started": WebFormat.time(job.startedAt), "finished": WebFormat.time(job.finishedAt),
                    "error": log.map { "\($0.exceptionClass ?? ""): \($0.exceptionMessage ?? "")" } ?? "",
                ]
            },
        ]
        if !m.status.isComplete {
            typealias L = MigrationTuning.Limits
            let inputs: [(String, String, Int?, ClosedRange<Int>)] = [
                ("Batch size", "batch_size", m.batchSize, L.batchSize), ("Sub-batch size", "sub_batch_size", m.subBatchSize, L.subBatchSize),
                ("Pause (ms)", "pause_ms", m.pauseMilliseconds, L.pauseMilliseconds), ("Interval (s)", "interval", m.interval, L.interval),
                ("Max batch size", "max_batch_size", m.maxBatchSize, L.maxBatchSize),
            ]
            values["tuning"] = [
                "action": "\(base)/update", "csrf": context.csrfToken, "returnTo": base,
                "inputs": inputs.map { ["label": $0.0, "name": $0.1, "value": $0.2.map(String.init) ?? "", "min": String($0.3.lowerBound), "max": String($0.3.upperBound)] },
            ] as [String: Any]
        }
        if let chart {
            values["chart"] = chart.svg
            values["chartCount"] = String(detail.recent.count)
            values["chartMax"] = WebFormat.duration(chart.maxDuration)
            values["chartMaxSize"] = WebFormat.number(chart.maxSize)
        }
        return renderer.page("migration", title: "\(m.jobClassName): \(m.tableName)", section: "migrations", request: request, values: values)
    }

    /// An inline SVG of recent batches: bars for durations (red when failed), a line for
    /// batch sizes. Only numbers go into it.
    static func chart(_ jobs: [BatchedJob]) -> (svg: String, maxDuration: Double, maxSize: Int)? {
        let points = jobs.compactMap { job in job.duration.map { (job, $0) } }
        guard !points.isEmpty else { return nil }
        let width = 600.0, height = 160.0, pad = 4.0
        let maxDuration = max(points.map(\.1).max() ?? 1, 0.001)
        let maxSize = max(points.map(\.0.batchSize).max() ?? 1, 1)
        let step = (width - 2 * pad) / Double(points.count)
        func f(_ value: Double, _ digits: Int = 1) -> String { Self.f(value, digits) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"batch durations and sizes\">"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#f6f8fa\"/>"
        var line: [String] = []
        for (i, (job, duration)) in points.enumerated() {
            let h = (height - 2 * pad) * duration / maxDuration
            let x = pad + Double(i) * step
            let color = job.status == .failed ? "#cf222e" : "#54aeff"
            svg += "<rect x=\"\(f(x))\" y=\"\(f(height - pad - h))\" width=\"\(f(max(step - 1, 1)))\" height=\"\(f(h))\" fill=\"\(color)\">"
                + "<title>job \(job.id): \(f(duration, 3)) s, \(job.batchSize) rows</title></rect>"
            line.append("\(f(x + step / 2)),\(f(height - pad - (height - 2 * pad) * Double(job.batchSize) / Double(maxSize)))")
        }
        svg += "<polyline points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"#9a6700\" stroke-width=\"2\"/></svg>"
        return (svg, maxDuration, maxSize)
    }

    /// A number with `digits` decimals.
    static func f(_ value: Double, _ digits: Int = 1) -> String {
        let scale = digits == 3 ? 1000.0 : 10.0
        let rounded = (value * scale).rounded() / scale
        return String(rounded)
    }

    struct JobDetail: Sendable {
        let job: BatchedJob
        let logs: [BatchedJobTransitionLog]
    }

    func job(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let jobID = try context.parameters.require("job", as: Int64.self)
        let detail = try await pool.run { c -> JobDetail in
            let store = BatchedMigrationStore(db: try Self.database(c))
            guard let job = try store.job(jobID), job.migrationID == id else { throw HTTPError(.notFound, message: "No job \(jobID) in migration \(id).") }
            return JobDetail(job: job, logs: try store.transitionLogs(of: jobID))
        }
        let job = detail.job
        let fields: [(String, String)] = [
            ("ID", String(job.id)), ("Status", job.status.name), ("Range", job.range.description),
            ("Batch size", WebFormat.number(job.batchSize)), ("Sub-batch size", WebFormat.number(job.subBatchSize)),
            ("Pause", "\(job.pauseMilliseconds) ms"), ("Attempts", String(job.attempts)),
            ("Started", WebFormat.time(job.startedAt)), ("Finished", WebFormat.time(job.finishedAt)),
            ("Duration", job.duration.map(WebFormat.duration) ?? "-"), ("Metrics", WebFormat.arguments(job.metrics, limit: 500)),
        ]
        return renderer.page("job", title: "Batched job \(job.id)", section: "migrations", request: request, values: [
            "migrationHref": "/admin/background_migrations/\(id)", "migrationID": String(id),
            "fields": fields.map { ["name": $0.0, "value": $0.1] },
            "logs": detail.logs.map { log -> [String: Any] in
                var row: [String: Any] = [
                    "when": WebFormat.time(log.createdAt), "from": log.previousStatus?.name ?? "?", "to": log.nextStatus?.name ?? "?",
                    "exceptionMessage": log.exceptionMessage ?? "",
                ]
                if let exceptionClass = log.exceptionClass { row["exceptionClass"] = exceptionClass }
                return row
            },
        ])
    }

    /// Who posts: the Basic authentication user name (or "anonymous") and the client's address.
    static func actor(_ request: Request, _ context: AdminContext) -> OperatorActor {
        var user = "anonymous"
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"), colon != text.startIndex
        {
            user = String(text[..<colon])
        }
        return OperatorActor(user: user, remoteAddress: context.remoteAddress, via: "web")
    }

    /// The update form's values: empty fields are left as they are.
    static func tuning(_ form: FormData) throws(MigrationTuning.Refusal) -> MigrationTuning {
        func number(_ name: String) throws(MigrationTuning.Refusal) -> Int? {
            guard let text = form[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            guard let value = Int(text) else { throw MigrationTuning.Refusal(description: "\(name) must be a whole number, got '\(text)'") }
            return value
        }
        return MigrationTuning(
            batchSize: try number("batch_size"), subBatchSize: try number("sub_batch_size"), pauseMilliseconds: try number("pause_ms"),
            interval: try number("interval"), maxBatchSize: try number("max_batch_size"))
    }

    func action(_ action: String, _ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let jobs = batchedJobs
        let logger = context.logger
        let actor = Self.actor(request, context)
        let form = context.form
        let message = try await pool.run { c -> String in
            let db = try Self.database(c)
            let store = BatchedMigrationStore(db: db)
            do {
                switch action {
                case "pause":
                    return "Migration \(id) is \(try store.apply(.pause, to: id, actor: actor).status.name)."
                case "resume":
                    return "Migration \(id) is \(try store.apply(.resume, to: id, actor: actor).status.name)."
                case "retry":
                    var runner = BatchedMigrationRunner(db: db, jobs: jobs, logger: logger)
                    runner.actor = actor
                    let (migration, count) = try runner.retryFailedJobs(id)
                    return "Migration \(id) is \(migration.status.name) again; \(count) failed job\(count == 1 ? "" : "s") will be retried."
                case "update":
                    let (before, after) = try store.update(id, try Self.tuning(form), actor: actor)
                    let changes = AuditLog.Entry.text(of: MigrationTuning.Values(before).changes(to: MigrationTuning.Values(after)))
                    return "Migration \(id) updated\(changes.isEmpty ? " (no change)" : ": " + changes); applies from its next batch."
                default:
                    throw HTTPError(.notFound)
                }
            } catch let error as MigrationTuning.Refusal {
                return "Not updated: \(error.description)"
            } catch let error as BatchedMigrationStatus.InvalidTransition {
                return error.description
            } catch let error as MigrationError {
                return error.description
            }
        }
        return Renderer.redirect(Renderer.returnPath(context, fallback: "/admin/background_migrations"), notice: message)
    }
}
