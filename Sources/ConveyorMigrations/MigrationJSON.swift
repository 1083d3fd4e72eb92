#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ConveyorJSON
import ConveyorPostgres

/// A timestamp as ISO 8601 UTC text, or null.
private func time(_ date: Date?) -> JSONValue { date.map { .string(PostgresTimestamp.format($0)) } ?? nil }

/// The JSON shape of migrations, jobs and transition logs, shared by the CLI's `--json`
/// and the web's `/api`. Timestamps are ISO 8601 UTC.
extension BatchedMigration {
    public func json(progress: MigrationProgress) -> JSONValue {
        var object = JSONObject()
        object["id"] = JSONValue(id)
        object["job_class_name"] = .string(jobClassName)
        object["batch_class_name"] = .string(batchClassName)
        object["table_name"] = .string(tableName)
        object["column_name"] = .string(columnName)
        object["job_arguments"] = jobArguments
        object["batching"] = .string((try? batching.description) ?? batchClassName)
        object["cursor_columns"] = cursorColumns.map { .array($0.map { .string($0) }) } ?? .null
        object["min_cursor"] = minCursor?.json ?? .null
        object["max_cursor"] = maxCursor?.json ?? .null
        object["last_cursor"] = lastCursor?.json ?? .null
        object["status"] = JSONValue(status.rawValue)
        object["status_name"] = .string(status.name)
        object["min_value"] = cursorColumns == nil ? JSONValue(minValue) : .null
        object["max_value"] = cursorColumns == nil ? JSONValue(maxValue) : .null
        object["batch_size"] = JSONValue(batchSize)
        object["sub_batch_size"] = JSONValue(subBatchSize)
        object["max_batch_size"] = maxBatchSize.map { JSONValue($0) } ?? nil
        object["interval"] = JSONValue(interval)
        object["pause_ms"] = JSONValue(pauseMilliseconds)
        object["total_tuple_count"] = totalTupleCount.map { JSONValue($0) } ?? nil
        object["progress"] = progress.percent.map { JSONValue($0) } ?? nil
        object["migrated_rows"] = JSONValue(progress.migratedRows)
        object["rows_per_second"] = progress.rowsPerSecond.map { JSONValue($0) } ?? nil
        object["eta_seconds"] = progress.etaSeconds.map { JSONValue($0) } ?? nil
        object["eta_seconds_low"] = progress.etaLowSeconds.map { JSONValue($0) } ?? nil
        object["eta_seconds_high"] = progress.etaHighSeconds.map { JSONValue($0) } ?? nil
        object["rows_left"] = progress.rowsLeft.map { JSONValue($0) } ?? nil
        object["position"] = lastCursor?.json ?? progress.lastKey.map { JSONValue($0) } ?? .null
        object["jobs"] = .object(JSONObject(fields: BatchedJobStatus.allCases.map { .init(key: $0.name, value: JSONValue(progress.jobCounts[$0] ?? 0)) }))
        object["on_hold_until"] = time(onHoldUntil)
        object["throttle"] = throttle?.json ?? .null
        object["created_at"] = time(createdAt)
        object["updated_at"] = time(updatedAt)
        object["started_at"] = time(startedAt)
        object["finished_at"] = time(finishedAt)
        object["finalize_command"] = .string(configuration.finalizeCommand)
        return .object(object)
    }
}

extension BatchedJob {
    public var json: JSONValue {
        [
            "id": JSONValue(id), "min_value": minCursor == nil ? JSONValue(minValue) : .null, "max_value": maxCursor == nil ? JSONValue(maxValue) : .null,
            "min_cursor": minCursor?.json ?? .null, "max_cursor": maxCursor?.json ?? .null,
            "batch_size": JSONValue(batchSize), "sub_batch_size": JSONValue(subBatchSize), "status": .string(status.name),
            "attempts": JSONValue(attempts), "started_at": time(startedAt),
            "finished_at": time(finishedAt), "metrics": metrics,
        ]
    }
}

extension BatchedJobTransitionLog {
    public var json: JSONValue {
        [
            "previous_status": .string(previousStatus?.name ?? "?"), "next_status": .string(nextStatus?.name ?? "?"),
            "exception_class": exceptionClass.map { .string($0) } ?? nil, "exception_message": exceptionMessage.map { .string($0) } ?? nil,
            "created_at": time(createdAt),
        ]
    }
}
