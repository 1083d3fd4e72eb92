import ConveyorJSON
import ConveyorMigrations
import ConveyorQueue
import Foundation
import Hummingbird

/// `/api/…`: the pages' data as JSON, for scripts.
struct APIRoutes: Sendable {
    let pool: ConnectionPool

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.serializedBytes())))
    }

    static func entryJSON(_ entry: QueueAPI.Entry) -> JSONValue {
        var object = JSONObject()
        if !entry.score.isEmpty { object["score"] = .string(entry.score); object["key"] = .string(entry.key) }
        object["job"] = entry.payload.map { .object($0.object) } ?? .string(entry.rawText)
        return .object(object)
    }

    static func processJSON(_ p: QueueAPI.ProcessSummary) -> JSONValue {
        [
            "identity": .string(p.identity), "info": .object(p.info), "busy": JSONValue(p.busy), "beat": JSONValue(p.beat),
            "quiet": .bool(p.quiet), "rss": JSONValue(p.rss), "concurrency": JSONValue(p.concurrency),
        ]
    }

    func stats() async throws -> Response {
        let stats = try await pool.run { c in try QueueAPI(redis: try c.redis()).stats() }
        return Self.json([
            "processed": JSONValue(stats.processed), "failed": JSONValue(stats.failed), "busy": JSONValue(stats.busy),
            "enqueued": JSONValue(stats.enqueued), "scheduled": JSONValue(stats.scheduled), "retries": JSONValue(stats.retries),
            "dead": JSONValue(stats.dead), "processes": JSONValue(stats.processes),
            "queues": .array(stats.queues.map { ["name": .string($0.name), "size": JSONValue($0.size), "latency": JSONValue($0.latency)] }),
        ])
    }

    func processes() async throws -> Response {
        let processes = try await pool.run { c in try QueueAPI(redis: try c.redis()).processes() }
        return Self.json(.array(processes.map(Self.processJSON)))
    }

    func busy() async throws -> Response {
        let running = try await pool.run { c in try QueueAPI(redis: try c.redis()).runningJobs() }
        return Self.json(.array(running.map { job in
            ["process": .string(job.process), "thread": .string(job.thread), "queue": .string(job.queue), "run_at": JSONValue(job.runAt),
             "job": job.payload.map { .object($0.object) } ?? nil]
        }))
    }

    func queues() async throws -> Response {
        let queues = try await pool.run { c in try QueueAPI(redis: try c.redis()).queues() }
        return Self.json(.array(queues.map { ["name": .string($0.name), "size": JSONValue($0.size), "latency": JSONValue($0.latency)] }))
    }

    func queue(_ request: Request, _ context: AdminContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let (offset, limit) = Self.window(request)
        let (summary, jobs) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.queue(name), try api.jobs(inQueue: name, offset: offset, limit: limit))
        }
        return Self.json(["name": .string(name), "size": JSONValue(summary.size), "latency": JSONValue(summary.latency), "jobs": .array(jobs.map(Self.entryJSON))])
    }

    func sortedSet(_ set: QueueAPI.SortedSet, _ request: Request) async throws -> Response {
        let (offset, limit) = Self.window(request)
        let (size, entries) = try await pool.run { c in
            let api = QueueAPI(redis: try c.redis())
            return (try api.size(of: set), try api.entries(in: set, offset: offset, limit: limit))
        }
        return Self.json(["size": JSONValue(size), "entries": .array(entries.map(Self.entryJSON))])
    }

    static func window(_ request: Request) -> (Int, Int) {
        let query = request.uri.queryParameters
        let offset = max(0, query["offset"].flatMap { Int($0) } ?? 0)
        let limit = min(max(1, query["limit"].flatMap { Int($0) } ?? 100), 1000)
        return (offset, limit)
    }

    func migrations(_ request: Request) async throws -> Response {
        let tab = request.uri.queryParameters["tab"].flatMap { MigrationPages.Tab(rawValue: String($0)) } ?? .queued
        let listing = try await pool.run { c in try MigrationPages.listing(tab, c) }
        return Self.json([
            "tab": .string(tab.rawValue), "enabled": .bool(listing.enabled),
            "counts": .object(JSONObject(fields: MigrationPages.Tab.allCases.map { .init(key: $0.rawValue, value: JSONValue(listing.counts[$0] ?? 0)) })),
            "migrations": .array(listing.rows.map { $0.migration.json(progress: $0.progress) }),
        ])
    }

    func migration(_ context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let value = try await pool.run { c -> JSONValue in
            let db = try MigrationPages.database(c)
            let store = BatchedMigrationStore(db: db)
            guard let m = try store.find(id) else { throw HTTPError(.notFound, message: "no batched background migration with id \(id)") }
            guard case .object(var object) = m.json(progress: try MigrationProgress.measure(m, db: db)) else { return nil }
            object["failed_jobs"] = .array(try store.jobs(of: id, status: .failed).map(\.json))
            object["history"] = .array(try AuditLog.history(db, migrationID: id, limit: 200).map(\.json))
            return .object(object)
        }
        return Self.json(value)
    }

    func job(_ context: AdminContext) async throws -> Response {
        let id = try context.parameters.require("id", as: Int64.self)
        let jobID = try context.parameters.require("job", as: Int64.self)
        let value = try await pool.run { c -> JSONValue in
            let store = BatchedMigrationStore(db: try MigrationPages.database(c))
            guard let job = try store.job(jobID), job.migrationID == id else { throw HTTPError(.notFound, message: "no job \(jobID) in migration \(id)") }
            guard case .object(var object) = job.json else { return nil }
            object["transition_logs"] = .array(try store.transitionLogs(of: jobID).map(\.json))
            return .object(object)
        }
        return Self.json(value)
    }
}
