import ConveyorJSON
import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorPlatform

/// A row of `batched_background_migrations`.
public struct BatchedMigration: Sendable {
    public var id: Int64
    public var jobClassName: String
    public var batchClassName: String
    public var tableName: String
    public var columnName: String
    public var jobArguments: JSONValue
    public var minValue: Int64
    public var maxValue: Int64
    public var batchSize: Int
    public var subBatchSize: Int
    public var maxBatchSize: Int?
    /// Seconds between batches.
    public var interval: Int
    public var pauseMilliseconds: Int
    public var status: BatchedMigrationStatus
    public var totalTupleCount: Int64?
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var onHoldUntil: Date?
    /// Cursor walks: the first and last key at queue time (GitLab's `min_cursor`/`max_cursor`).
    public var minCursor: BatchCursor?
    public var maxCursor: BatchCursor?
    /// The columns a cursor walk orders by (Conveyor's `cursor_columns`); nil otherwise.
    public var cursorColumns: [String]?
    /// How far a cursor walk got: the last key of the newest batch (Conveyor's `last_cursor`).
    public var lastCursor: BatchCursor?
    /// Why a worker slows this migration down (soft limits), or nil.
    public var throttle: ThrottleState?

    static let columns = """
        id, job_class_name, batch_class_name, table_name, column_name, job_arguments, min_value, max_value,
        batch_size, sub_batch_size, max_batch_size, "interval", pause_ms, status, total_tuple_count,
        created_at, updated_at, started_at, finished_at, on_hold_until, min_cursor, max_cursor, cursor_columns, last_cursor, throttle
        """

    init(row: PostgresRow) throws {
        id = try row["id"].int64()
        jobClassName = try row["job_class_name"].string()
        batchClassName = try row["batch_class_name"].string()
        tableName = try row["table_name"].string()
        columnName = try row["column_name"].string()
        jobArguments = try row["job_arguments"].json()
        minValue = try row["min_value"].optionalInt64() ?? 1
        maxValue = try row["max_value"].optionalInt64() ?? minValue
        batchSize = try row["batch_size"].int()
        subBatchSize = try row["sub_batch_size"].int()
        maxBatchSize = try row["max_batch_size"].optionalInt()
        interval = try row["interval"].int()
        pauseMilliseconds = try row["pause_ms"].int()
        let rawStatus = try row["status"].int()
        guard let status = BatchedMigrationStatus(rawValue: rawStatus) else {
            throw PostgresError(.decoding, "unknown batched migration status \(rawStatus)")
        }
        self.status = status
        totalTupleCount = try row["total_tuple_count"].optionalInt64()
        createdAt = try row["created_at"].date()
        updatedAt = try row["updated_at"].date()
        startedAt = try row["started_at"].optionalDate()
        finishedAt = try row["finished_at"].optionalDate()
        onHoldUntil = try row["on_hold_until"].optionalDate()
        minCursor = try BatchCursor.decode(row["min_cursor"])
        maxCursor = try BatchCursor.decode(row["max_cursor"])
        cursorColumns = try row["cursor_columns"].optionalJSON()?.arrayValue?.compactMap(\.stringValue)
        lastCursor = try BatchCursor.decode(row["last_cursor"])
        throttle = ThrottleState(json: try row["throttle"].optionalJSON())
    }

    /// How it walks its table; throws for a `batch_class_name` Conveyor does not know.
    public var batching: Batching {
        get throws { try Batching(batchClassName: batchClassName, columnName: columnName, cursorColumns: cursorColumns) }
    }

    /// The first and last key of the whole walk.
    public var bounds: BatchRange? {
        if cursorColumns != nil {
            guard let minCursor, let maxCursor else { return nil }
            return BatchRange(first: minCursor, last: maxCursor)
        }
        return BatchRange(first: BatchCursor(integer: minValue), last: BatchCursor(integer: maxValue))
    }

    /// Where the walk stands, for operators: the last key batched so far, or nil before the
    /// first batch. Integer walks report it through their jobs' `max_value`.
    public var position: BatchCursor? { lastCursor }

    public var configuration: MigrationConfiguration {
        MigrationConfiguration(jobClassName: jobClassName, tableName: tableName, columnName: columnName, jobArguments: jobArguments)
    }

    /// GitLab's `to_s`.
    public var label: String { "BatchedMigration[id: \(id)]" }

    public var isOnHold: Bool { onHoldUntil.map { $0 > Date() } ?? false }
}

/// The identity of a migration: job class, table, column and job arguments (compared as
/// jsonb, as GitLab's `for_configuration` does).
public struct MigrationConfiguration: Sendable, Equatable, CustomStringConvertible {
    public var jobClassName: String
    public var tableName: String
    public var columnName: String
    public var jobArguments: JSONValue

    public init(jobClassName: String, tableName: String, columnName: String, jobArguments: JSONValue = []) {
        self.jobClassName = jobClassName
        self.tableName = tableName
        self.columnName = columnName
        self.jobArguments = jobArguments
    }

    /// `{job_class_name: X, table_name: Y, column_name: Z, job_arguments: [...]}`, as in
    /// GitLab's messages.
    public var description: String {
        "{job_class_name: \(jobClassName), table_name: \(tableName), column_name: \(columnName), job_arguments: \(jobArguments.serialized())}"
    }

    /// The exact command that finalizes this migration, shell-quoted.
    public var finalizeCommand: String {
        "conveyor migrations finalize \(Self.shellQuote(jobClassName)) \(Self.shellQuote(tableName)) \(Self.shellQuote(columnName)) \(Self.shellQuote(jobArguments.serialized()))"
    }

    static func shellQuote(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_-./:".unicodeScalars.contains($0)
        }
        if safe && !text.isEmpty { return text }
        return "'" + text.replacing("'", with: "'\\''") + "'"
    }

    /// Parses GitLab's single-argument rake form, as pasted from an error message:
    /// `[CopyColumnUsingBackgroundMigrationJob,events,id,'[["id"]\, ["id_convert_to_bigint"]]']`
    /// (also without brackets, quotes or backslashes).
    public static func parseRakeArgument(_ text: String) throws -> MigrationConfiguration {
        guard let parts = RakeArgument.fields(text) else {
            throw MigrationError(.invalidArguments, "expected [JobClass,table,column,'job_arguments_json'], got '\(text)'")
        }
        var arguments: JSONValue = []
        if parts.count == 4, !parts[3].isEmpty {
            do { arguments = try JSONValue.parse(parts[3]) } catch {
                throw MigrationError(.invalidArguments, "job arguments '\(parts[3])' are not valid JSON: \(error)")
            }
        }
        return MigrationConfiguration(jobClassName: parts[0], tableName: parts[1], columnName: parts[2], jobArguments: arguments)
    }
}
