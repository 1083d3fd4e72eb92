import ConveyorJSON
import ConveyorPlatform
import ConveyorPostgres

/// Does nothing: for throughput benchmarks and smoke tests.
public struct NoopJob: Job {
    public static let className = "NoopJob"
    public init(arguments: [JSONValue]) {}
    public func perform(context: JobContext) {}
}

/// Sleeps `[milliseconds]` (default 1000).
public struct SleepJob: Job {
    public static let className = "SleepJob"
    let milliseconds: Int

    public init(arguments: [JSONValue]) throws {
        if let first = arguments.first {
            guard let ms = first.intValue ?? first.doubleValue.map({ Int($0) }), ms >= 0 else {
                throw JobError.badArguments("SleepJob expects [milliseconds], got \(JSONValue.array(arguments))")
            }
            milliseconds = ms
        } else {
            milliseconds = 1000
        }
    }

    public func perform(context: JobContext) throws {
        // Sleeps through a shutdown, as a job that cannot stop early does: past --timeout
        // it is pushed back and runs again elsewhere.
        blockingSleep(.milliseconds(milliseconds))
    }
}

/// Always fails with `[message]`, for retry and dead-set drills.
public struct FailJob: Job {
    public static let className = "FailJob"
    let message: String

    public init(arguments: [JSONValue]) {
        message = arguments.first.map { $0.stringValue ?? $0.serialized() } ?? "FailJob failed on purpose"
    }

    public func perform(context: JobContext) throws {
        throw JobError(errorClass: "FailJob::Failure", message: message)
    }
}

/// Upserts `[key]` into `conveyor_records(key text primary key, runs int)`, adding one
/// to `runs`, so a fault drill can count lost and duplicated executions.
public struct RecordJob: Job {
    public static let className = "RecordJob"
    let key: String

    public init(arguments: [JSONValue]) throws {
        guard let first = arguments.first else { throw JobError.badArguments("RecordJob expects [key]") }
        key = first.stringValue ?? first.serialized()
    }

    public func perform(context: JobContext) throws {
        let db = try context.postgres()
        do {
            try Self.record(key, db)
        } catch {
            guard error.sqlState == "42P01" else { throw error }  // undefined_table
            try Self.createTable(db)
            try Self.record(key, db)
        }
    }

    static func record(_ key: String, _ db: PostgresConnection) throws(PostgresError) {
        try db.queryPrepared(
            """
            INSERT INTO conveyor_records (key, runs) VALUES (\(key), 1)
            ON CONFLICT (key) DO UPDATE SET runs = conveyor_records.runs + 1
            """)
    }

    /// Creates the table; two processes racing to create it both succeed.
    public static func createTable(_ db: PostgresConnection) throws(PostgresError) {
        do {
            try db.execute("CREATE TABLE IF NOT EXISTS conveyor_records (key text PRIMARY KEY, runs int NOT NULL DEFAULT 0)")
        } catch {
            // 23505/42P07: created concurrently by another processor.
            guard error.sqlState == "23505" || error.sqlState == "42P07" else { throw error }
        }
    }
}
