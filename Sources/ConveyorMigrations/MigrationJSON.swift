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
        object["table_name"] = .string(tableName)
        object["column_name"] = .string(columnName)
        object["job_arguments"] = jobArguments
        object["status"] = JSONValue(status.rawValue)
        object["status_name"] = .string(status.name)
        object["min_value"] = JSONValue(minValue)
        object["max_value"] = JSONValue(maxValue)
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
        object["jobs"] = .object(JSONObject(fields: BatchedJobStatus.allCases.map { .init(key: $0.name, value: JSONValue(progress.jobCounts[$0] ?? 0)) }))
        object["on_hold_until"] = time(onHoldUntil)
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
            "id": JSONValue(id), "min_value": JSONValue(minValue), "max_value": JSONValue(maxValue),
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
