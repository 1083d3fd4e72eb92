import ConveyorJSON
import ConveyorMigrations
import Hummingbird

/// Records every accepted POST of the queue, process and periodic pages in the audit trail
/// (the migration pages record theirs in the transaction of the change): the HTTP user,
/// the client's address, the path and the form's fields. Those actions change Redis, so
/// the entry follows the change rather than sharing its transaction. Needs DATABASE_URL.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let pool: ConnectionPool

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        let path = request.uri.path
        guard request.method == .post, !path.hasPrefix("/admin/background_migrations"), response.status.code < 400 else { return response }
        let actor = MigrationPages.actor(request, context)
        var changes = JSONObject()
        for (name, value) in context.form.fields where name != CSRFMiddleware.fieldName && name != "return_to" {
            changes[name] = AuditLog.change(.null, .string(value))
        }
        let recorded = changes
        do {
            try await pool.run { c in
                guard let db = try c.postgres() else { return }
                try Schema.setUp(db)
                try AuditLog.record(db, actor: actor, action: "web POST \(path)", migrationID: nil, target: path, changes: .object(recorded))
            }
        } catch {
            context.logger.warning("could not record the action in the audit trail", metadata: ["path": .string(path), "error": "\(error)"])
        }
        return response
    }
}
