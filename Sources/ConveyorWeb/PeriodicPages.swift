import ConveyorJSON
import ConveyorQueue
import Foundation
import Hummingbird

/// The Periodic page (as in Sidekiq Enterprise's Web UI): the entries workers publish
/// from their `--schedule` files, with Enqueue now, Pause and Resume buttons, and
/// `/api/periodic` with the same data.
struct PeriodicPages: Sendable {
    let pool: ConnectionPool
    let renderer: Renderer

    func list(_ request: Request, _ context: AdminContext) async throws -> Response {
        let now = Date().timeIntervalSince1970
        let statuses = try await pool.run { c in try PeriodicStatus.all(on: try c.redis(), now: now) }
        let rows = statuses.map { status -> [String: Any] in
            let fields = [("name", status.name)]
            var actions: [[String: Any]] = [
                Renderer.button("/periodic/enqueue", "Enqueue now", context: context, returnTo: "/periodic", style: "primary", fields: fields),
            ]
            if status.paused {
                actions.append(Renderer.button("/periodic/resume", "Resume", context: context, returnTo: "/periodic", fields: fields))
            } else {
                actions.append(Renderer.button("/periodic/pause", "Pause", context: context, returnTo: "/periodic", style: "danger", fields: fields))
            }
            let badge = ["active": "success", "paused": "warning", "inactive": "info"][status.state] ?? "info"
            var row: [String: Any] = [
                "name": status.name, "cron": status.entry?.cron.source ?? "?", "className": status.entry?.className ?? "?",
                "queue": status.entry?.queue ?? "", "args": WebFormat.arguments(.array(status.entry?.args ?? [])),
                "next": status.nextTick.map { "\(WebFormat.relative(Double($0), now: now)) (\(WebFormat.time(Double($0))))" } ?? "-",
                "last": status.lastTick.map { "\(WebFormat.relative(Double($0), now: now)) (\(WebFormat.time(Double($0))))" } ?? "never",
                "state": status.state, "badge": badge, "stale": status.isStale(now: now),
                "enqueued": WebFormat.number(status.enqueued),
                "skipped": WebFormat.number(status.skippedPaused + status.skippedDuplicate + status.missed),
                "actions": actions,
            ]
            if let description = status.entry?.description { row["description"] = description }
            if let problem = status.problem { row["problem"] = problem }
            return row
        }
        return renderer.page("periodic", title: "Periodic", section: "periodic", request: request, values: ["entries": rows])
    }

    func action(_ action: String, _ context: AdminContext) async throws -> Response {
        guard let name = context.form["name"], !name.isEmpty else { throw HTTPError(.badRequest, message: "missing entry name") }
        let returnTo = Renderer.returnPath(context, fallback: "/periodic")
        let notice = try await pool.run { c -> String in
            let redis = try c.redis()
            switch action {
            case "pause", "resume":
                guard try PeriodicStore.setPaused(name, action == "pause", on: redis) else { return "No periodic entry named \(name)." }
                return action == "pause" ? "Paused \(name) in every process." : "Resumed \(name) from its next tick."
            default:
                guard let entry = try PeriodicStore.entry(name, on: redis) else { return "No periodic entry named \(name)." }
                switch try PeriodicStore.enqueueNow(entry, now: Date().timeIntervalSince1970, on: redis) {
                case .enqueued(let jid): return "Enqueued \(entry.className) for \(name): job \(jid)."
                case .duplicate(let holder, _): return "Not enqueued: the unique job \(holder) of \(name) is still pending."
                }
            }
        }
        return Renderer.redirect(returnTo, notice: notice)
    }

    func api() async throws -> Response {
        let now = Date().timeIntervalSince1970
        let statuses = try await pool.run { c in try PeriodicStatus.all(on: try c.redis(), now: now) }
        return APIRoutes.json(.array(statuses.map(\.json)))
    }

    static let template = """
        <p>Periodic jobs from the schedule files of running workers (<code>conveyor worker --schedule FILE</code>). Each tick is enqueued once, by whichever process claims it first. Times are UTC.</p>
        <table>
        <thead><tr><th>Name</th><th>Schedule</th><th>Job</th><th>Next run</th><th>Last run</th><th class="num">Enqueued</th><th class="num">Skipped</th><th>State</th><th></th></tr></thead>
        <tbody>
        {{#entries}}<tr><td><strong>{{name}}</strong>{{#description}}<br><small>{{description}}</small>{{/description}}{{#problem}}<br><span class="error-text">{{problem}}</span>{{/problem}}</td><td><code>{{cron}}</code></td><td><strong>{{className}}</strong> <span class="tag">{{queue}}</span><br><code>{{args}}</code></td><td>{{next}}</td><td>{{last}}</td><td class="num">{{enqueued}}</td><td class="num">{{skipped}}</td><td><span class="badge {{badge}}">{{state}}</span>{{#stale}}<br><small>no running worker schedules it</small>{{/stale}}</td><td class="actions">{{#actions}}{{> button}}{{/actions}}</td></tr>
        {{/entries}}
        {{^entries}}<tr><td colspan="9" class="empty">No periodic jobs: no worker runs a schedule.</td></tr>{{/entries}}
        </tbody></table>
        """
}
