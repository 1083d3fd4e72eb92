import ConveyorJSON
import ConveyorQueue
import Foundation
import Hummingbird

/// The Sidekiq-style dashboard: overview, busy, queues, scheduled, retries, dead.
struct QueuePages: Sendable {
    let pool: ConnectionPool
    let renderer: Renderer
    static let pageSize = 50

    func processRows(_ processes: [QueueAPI.ProcessSummary], context: AdminContext, returnTo: String) -> [[String: Any]] {
        let now = Date().timeIntervalSince1970
        return processes.map { p in
            var actions: [[String: Any]] = []
            if !p.quiet { actions.append(Renderer.button("/processes/quiet", "Quiet", context: context, returnTo: returnTo, fields: [("identity", p.identity)])) }
            actions.append(Renderer.button("/processes/stop", "Stop", context: context, returnTo: returnTo, style: "danger", fields: [("identity", p.identity)]))
            return [
                "identity": p.identity, "hostname": p.hostname, "pid": String(p.pid), "tag": p.tag,
                "started": WebFormat.relative(p.startedAt, now: now), "queues": p.queues.joined(separator: ", "),
                "busy": String(p.busy), "concurrency": String(p.concurrency), "rss": WebFormat.kilobytes(p.rss),
                "beat": WebFormat.relative(p.beat, now: now), "quiet": p.quiet, "actions": actions,
            ]
        }
    }

    func queueRows(_ queues: [QueueAPI.QueueSummary], context: AdminContext, returnTo: String) -> [[String: Any]] {
        queues.map { q in
            [
                "name": q.name, "href": "/queues/\(Renderer.escape(q.name))", "size": WebFormat.number(q.size),
                "latency": WebFormat.duration(q.latency),
                "clear": Renderer.button("/queues/\(Renderer.escape(q.name))/clear", "Clear", context: context, returnTo: returnTo, style: "danger"),
            ]
        }
    }

    func dashboard(_ request: Request, _ context: AdminContext) async throws -> Response {
        let (stats, processes) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.stats(), try api.processes())
        }
        let stats_: [(String, Int, String)] = [
            ("Processed", stats.processed, "/"), ("Failed", stats.failed, "/retries"), ("Busy", stats.busy, "/busy"),
            ("Enqueued", stats.enqueued, "/queues"), ("Scheduled", stats.scheduled, "/scheduled"), ("Retries", stats.retries, "/retries"),
            ("Dead", stats.dead, "/dead"), ("Processes", stats.processes, "/busy"),
        ]
        return renderer.page("dashboard", title: "Dashboard", section: "dashboard", request: request, values: [
            "stats": stats_.map { ["label": $0.0, "value": WebFormat.number($0.1), "href": $0.2] },
            "processes": processRows(processes, context: context, returnTo: "/"),
            "queues": queueRows(stats.queues, context: context, returnTo: "/"),
        ])
    }

    func busy(_ request: Request, _ context: AdminContext) async throws -> Response {
        let (processes, running) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.processes(), try api.runningJobs())
        }
        let now = Date().timeIntervalSince1970
        return renderer.page("busy", title: "Busy", section: "busy", request: request, values: [
            "processes": processRows(processes, context: context, returnTo: "/busy"),
            "running": running.map { job in
                [
                    "process": job.process, "thread": job.thread, "queue": job.queue, "className": job.payload?.displayClass ?? "?",
                    "jid": job.payload?.jid ?? "", "args": WebFormat.arguments(.array(job.payload?.args ?? [])),
                    "started": WebFormat.relative(job.runAt, now: now),
                ]
            },
        ])
    }

    func queues(_ request: Request, _ context: AdminContext) async throws -> Response {
        let queues = try await pool.run { c in try QueueAPI(redis: try c.redis()).queues() }
        return renderer.page("queues", title: "Queues", section: "queues", request: request, values: [
            "queues": queueRows(queues, context: context, returnTo: "/queues"),
        ])
    }

    func queue(_ request: Request, _ context: AdminContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let page = max(0, request.uri.queryParameters["page"].flatMap { Int($0) } ?? 0)
        let (summary, jobs) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.queue(name), try api.jobs(inQueue: name, offset: page * Self.pageSize, limit: Self.pageSize))
        }
        let path = "/queues/\(Renderer.escape(name))"
        let returnTo = page > 0 ? "\(path)?page=\(page)" : path
        var values: [String: Any] = [
            "size": WebFormat.number(summary.size), "latency": WebFormat.duration(summary.latency),
            "clear": Renderer.button("\(path)/clear", "Clear queue", context: context, returnTo: "/queues", style: "danger"),
            "jobs": jobs.map { entry in
                [
                    "className": entry.payload?.displayClass ?? "(not a job)", "jid": entry.jid,
                    "args": entry.payload.map { WebFormat.arguments(.array($0.args)) } ?? String(entry.rawText.prefix(300)),
                    "enqueued": WebFormat.relative(entry.payload?.enqueuedAt ?? 0),
                    "delete": Renderer.button("\(path)/delete", "Delete", context: context, returnTo: returnTo, style: "danger", fields: [("jid", entry.jid)]),
                ]
            },
        ]
        if let pager = pager(path: path, page: page, count: jobs.count, total: summary.size) { values["pager"] = pager }
        return renderer.page("queue", title: "Queue \(name)", section: "queues", request: request, values: values)
    }

    func pager(path: String, page: Int, count: Int, total: Int) -> [String: Any]? {
        let hasNext = (page + 1) * Self.pageSize < total
        guard page > 0 || hasNext else { return nil }
        var pager: [String: Any] = [:]
        if page > 0 { pager["previous"] = page == 1 ? path : "\(path)?page=\(page - 1)" }
        if hasNext { pager["next"] = "\(path)?page=\(page + 1)" }
        return pager
    }

    func sortedSet(_ set: QueueAPI.SortedSet, _ request: Request, _ context: AdminContext) async throws -> Response {
        let page = max(0, request.uri.queryParameters["page"].flatMap { Int($0) } ?? 0)
        let (size, entries) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.size(of: set), try api.entries(in: set, offset: page * Self.pageSize, limit: Self.pageSize))
        }
        let (path, title, whenLabel, section): (String, String, String, String)
        switch set {
        case .scheduled: (path, title, whenLabel, section) = ("/scheduled", "Scheduled", "Runs", "scheduled")
        case .retries: (path, title, whenLabel, section) = ("/retries", "Retries", "Next retry", "retries")
        case .dead: (path, title, whenLabel, section) = ("/dead", "Dead", "Died", "dead")
        }
        let returnTo = page > 0 ? "\(path)?page=\(page)" : path
        let now = Date().timeIntervalSince1970
        var values: [String: Any] = [
            "size": WebFormat.number(size), "whenLabel": whenLabel, "showErrors": set != .scheduled,
            "clearAll": Renderer.button("\(path)/clear", "Delete all", context: context, returnTo: path, style: "danger"),
            "entries": entries.map { entry -> [String: Any] in
                let fields = [("key", entry.key)]
                var actions: [[String: Any]] = []
                switch set {
                case .scheduled: actions.append(Renderer.button("\(path)/enqueue", "Add to queue", context: context, returnTo: returnTo, fields: fields))
                case .retries:
                    actions.append(Renderer.button("\(path)/retry", "Retry now", context: context, returnTo: returnTo, style: "primary", fields: fields))
                    actions.append(Renderer.button("\(path)/kill", "Kill", context: context, returnTo: returnTo, fields: fields))
                case .dead: actions.append(Renderer.button("\(path)/retry", "Retry", context: context, returnTo: returnTo, style: "primary", fields: fields))
                }
                actions.append(Renderer.button("\(path)/delete", "Delete", context: context, returnTo: returnTo, style: "danger", fields: fields))
                var row: [String: Any] = [
                    "when": "\(WebFormat.relative(entry.at, now: now)) (\(WebFormat.time(entry.at)))",
                    "className": entry.payload?.displayClass ?? "(not a job)", "queue": entry.payload?.queue ?? "", "jid": entry.jid,
                    "args": entry.payload.map { WebFormat.arguments(.array($0.args)) } ?? String(entry.rawText.prefix(300)),
                    "errorMessage": entry.payload?.errorMessage ?? "", "actions": actions,
                ]
                if let errorClass = entry.payload?.errorClass { row["errorClass"] = errorClass }
                if let count = entry.payload?.retryCount, count > 0 { row["retryCount"] = String(count) }
                return row
            },
        ]
        if let pager = pager(path: path, page: page, count: entries.count, total: size) { values["pager"] = pager }
        return renderer.page("set", title: title, section: section, request: request, values: values)
    }

    // MARK: - Actions

    /// `key` is `score-jid`.
    static func parseKey(_ key: String?) -> (String, String)? {
        guard let key, let dash = key.lastIndex(of: "-") else { return nil }
        let score = String(key[..<dash]), jid = String(key[key.index(after: dash)...])
        guard Double(score) != nil, !jid.isEmpty else { return nil }
        return (score, jid)
    }

    func setAction(_ set: QueueAPI.SortedSet, _ action: String, _ context: AdminContext, path: String) async throws -> Response {
        let returnTo = Renderer.returnPath(context, fallback: path)
        if action == "clear" {
            try await pool.run { c in try QueueAPI(redis: try c.redis()).clear(set) }
            return Renderer.redirect(returnTo, notice: "Deleted every entry.")
        }
        guard let (score, jid) = Self.parseKey(context.form["key"]) else {
            throw HTTPError(.badRequest, message: "missing or malformed entry key")
        }
        let done = try await pool.run { c -> Bool in
            let api = QueueAPI(redis: try c.redis())
            switch action {
            case "delete": return try api.delete(set, score: score, jid: jid)
            case "retry", "enqueue": return try api.enqueueNow(set, score: score, jid: jid)
            case "kill": return try api.kill(score: score, jid: jid)
            default: return false
            }
        }
        let verb = ["delete": "Deleted", "retry": "Queued for retry", "enqueue": "Added to its queue", "kill": "Moved to the dead set"][action] ?? "Done"
        return Renderer.redirect(returnTo, notice: done ? "\(verb): job \(jid)." : "Job \(jid) was no longer there (already moved or run).")
    }

    func deleteQueued(_ context: AdminContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let jid = context.form["jid"], !jid.isEmpty else { throw HTTPError(.badRequest, message: "missing jid") }
        let done = try await pool.run { c in try QueueAPI(redis: try c.redis()).deleteJob(inQueue: name, jid: jid) }
        return Renderer.redirect(Renderer.returnPath(context, fallback: "/queues/\(Renderer.escape(name))"),
                                 notice: done ? "Deleted job \(jid)." : "Job \(jid) was no longer in the queue.")
    }

    func clearQueue(_ context: AdminContext) async throws -> Response {
        let name = try context.parameters.require("name")
        try await pool.run { c in try QueueAPI(redis: try c.redis()).clearQueue(name) }
        return Renderer.redirect(Renderer.returnPath(context, fallback: "/queues"), notice: "Cleared queue \(name).")
    }

    func signalProcess(_ signal: String, _ context: AdminContext) async throws -> Response {
        guard let identity = context.form["identity"], !identity.isEmpty else { throw HTTPError(.badRequest, message: "missing identity") }
        try await pool.run { c in try QueueAPI(redis: try c.redis()).signal(process: identity, signal) }
        let what = signal == "TSTP" ? "quiet" : "stop"
        return Renderer.redirect(Renderer.returnPath(context, fallback: "/busy"), notice: "Asked \(identity) to \(what) (it acts on its next heartbeat, within 5 s).")
    }
}
