// An application's own worker: its jobs and migrations registered next to Conveyor's
// built-ins, with the whole `conveyor` command line (worker, enqueue, steal,
// migrations ...). Build and run:
//
//   swift run CustomWorker enqueue Greet '["Ada"]'
//   swift run CustomWorker worker -q default
import ConveyorCLI
import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue

/// A job: decode `args` in `init`, do the work in `perform`. Throwing retries the job with
/// Sidekiq's backoff.
struct Greet: Job {
    static let className = "Greet"
    let name: String

    init(arguments: [JSONValue]) throws {
        guard let name = arguments.first?.stringValue else { throw JobError.badArguments("Greet expects [name]") }
        self.name = name
    }

    func perform(context: JobContext) throws {
        context.logger.info("hello, \(name)")
        // Jobs can use the processor's PostgreSQL connection (DATABASE_URL) ...
        let db = try context.postgres()
        try db.query("CREATE TABLE IF NOT EXISTS greetings (name text, at timestamptz DEFAULT now())")
        try db.query("INSERT INTO greetings (name) VALUES (\(name))")
        // ... and enqueue follow-up jobs.
        if name == "chain" { try context.client.enqueue("Greet", args: ["again"]) }
    }
}

/// A batched migration job: lower-cases a text column, sub-batch by sub-batch.
/// Queue it with: conveyor migrations queue LowercaseEmails users id '["email"]'
struct LowercaseEmails: BatchedMigrationJob {
    static let className = "LowercaseEmails"
    init() {}

    static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {
        guard let column = arguments[0]?.stringValue else { throw MigrationError(.invalidArguments, "expected [column]") }
        _ = try db.resolveColumn(column, in: table)
    }

    func perform(_ batch: BatchedJobContext) throws {
        let column = try batch.db.resolveColumn(batch.arguments[0]?.stringValue ?? "", in: batch.table)
        try batch.eachSubBatch { first, last in
            try batch.db.query(
                """
                UPDATE \(table: batch.table) SET \(identifier: column) = lower(\(identifier: column))
                WHERE \(identifier: batch.column) BETWEEN \(first) AND \(last)
                """).affectedRows
        }
    }
}

/// A batched migration job with its own cursor and scope (GitLab's `cursor` and
/// `scope_to`): trims the titles of tickets in one state, walking `(project_id, id)`.
/// Queue it with: conveyor migrations queue TrimTicketTitles tickets project_id '["open"]'
struct TrimTicketTitles: BatchedMigrationJob {
    static let className = "TrimTicketTitles"
    static let cursor: [String]? = ["project_id", "id"]
    init() {}

    static func validate(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws {
        guard arguments.arrayValue?.count == 1, arguments[0]?.stringValue != nil else {
            throw MigrationError(.invalidArguments, "\(className) expects [state], got \(arguments.serialized())")
        }
    }

    /// Only these rows count: batches hold `batch_size` tickets in the state, and
    /// `subBatch.condition` selects only them.
    static func scope(arguments: JSONValue, table: QualifiedTableName, db: PostgresConnection) throws -> PostgresQuery? {
        "\(identifier: try db.resolveColumn("state", in: table)) = \(arguments[0]?.stringValue ?? "")"
    }

    func perform(_ batch: BatchedJobContext) throws {
        let title = try batch.db.resolveColumn("title", in: batch.table)
        try batch.eachSubBatch { subBatch in
            try batch.db.query("UPDATE \(table: batch.table) SET \(identifier: title) = btrim(\(identifier: title)) WHERE \(subBatch.condition)").affectedRows
        }
    }
}

var jobs = JobRegistry.builtIn
jobs.register(Greet.self)
var batched = BatchedJobRegistry.builtIn
batched.register(LowercaseEmails.self)
batched.register(TrimTicketTitles.self)
await ConveyorCLI.main(registry: jobs, batchedJobs: batched)
