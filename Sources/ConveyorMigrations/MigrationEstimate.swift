import ConveyorJSON

/// What `migrations estimate` found: the rows and batches left, each sampled batch, and
/// the expected time at three paces with a low–high range each.
public struct MigrationEstimate: Sendable {
    public struct Sample: Sendable {
        public var fraction = 0.0
        public var range: BatchRange
        public var keys: Int
        public var rows = 0
        public var seconds = 0.0
        public var subBatches = 0
        public var slowestSubBatch = 0.0
        public var lookupSeconds = 0.0
        public var walBytes: Int64 = 0
        /// The same batch as one statement (`--downtime`); nil when it timed out.
        public var downtimeSeconds: Double?
        public var downtimeWalBytes: Int64 = 0
        /// The sub-batch statement timeout cancelled it (its message).
        public var timedOut: String?

        init(range: BatchRange, keys: Int) {
            self.range = range
            self.keys = keys
        }

        var model: EstimateModel.Sample {
            EstimateModel.Sample(
                keys: keys, rows: rows, seconds: seconds, subBatches: subBatches, slowestSubBatch: slowestSubBatch,
                lookupSeconds: lookupSeconds, walBytes: walBytes, downtimeSeconds: downtimeSeconds)
        }

        var json: JSONValue {
            var object = JSONObject()
            object["fraction"] = JSONValue(fraction)
            object["range"] = .string(range.description)
            object["keys"] = JSONValue(keys)
            object["rows"] = JSONValue(rows)
            object["seconds"] = JSONValue(seconds)
            object["sub_batches"] = JSONValue(subBatches)
            object["slowest_sub_batch_seconds"] = JSONValue(slowestSubBatch)
            object["lookup_seconds"] = JSONValue(lookupSeconds)
            object["wal_bytes"] = JSONValue(walBytes)
            object["downtime_seconds"] = downtimeSeconds.map { JSONValue($0) } ?? .null
            object["timed_out"] = timedOut.map { .string($0) } ?? .null
            return .object(object)
        }
    }

    public var configuration: MigrationConfiguration
    public var batching: Batching
    public var pace: EstimateModel.Pace
    public var migrationID: Int64?
    /// Rows left, and keys left (batch-size units: rows, or distinct values).
    public var rows: Int64 = 0
    public var keys: Int64 = 0
    /// Counted (true) or the planner's estimate (false, the count took too long).
    public var countsExact = true
    public var batches = 0
    public var samples: [Sample] = []
    /// By workers at the migration's pace (interval, pauses, optimizer).
    public var workers: EstimateModel.Range?
    /// `finalize` at the migration's own pace.
    public var finalize: EstimateModel.Range?
    /// `finalize --downtime`.
    public var downtime: EstimateModel.Range?
    public var downtimeLanes = 1
    public var walBytes: Int64 = 0
    public var slowestSubBatch = 0.0
    public var subBatchTimeout = 0.0
    public var timeoutRisk = EstimateModel.TimeoutRisk.low
    public var budget = 0.0
    public var elapsed = 0.0
    public var bookkeeping = EstimateModel.Bookkeeping(finalize: 0, worker: 0)

    init(configuration: MigrationConfiguration, batching: Batching, pace: EstimateModel.Pace) {
        self.configuration = configuration
        self.batching = batching
        self.pace = pace
    }

    static func empty(_ configuration: MigrationConfiguration, batching: Batching, pace: EstimateModel.Pace) -> MigrationEstimate {
        var estimate = MigrationEstimate(configuration: configuration, batching: batching, pace: pace)
        let none = EstimateModel.Range(seconds: 0, low: 0, high: 0, batches: 0)
        estimate.workers = none
        estimate.finalize = none
        estimate.downtime = none
        return estimate
    }

    /// The sample that took longest.
    public var slowestSample: Sample? { samples.max { $0.seconds < $1.seconds } }

    public var json: JSONValue {
        var object = JSONObject()
        func put(_ prefix: String, _ range: EstimateModel.Range?) {
            object[prefix] = range.map { JSONValue($0.seconds) } ?? .null
            object[prefix + "_low"] = range.map { JSONValue($0.low) } ?? .null
            object[prefix + "_high"] = range.map { JSONValue($0.high) } ?? .null
        }
        object["job_class_name"] = .string(configuration.jobClassName)
        object["table_name"] = .string(configuration.tableName)
        object["column_name"] = .string(configuration.columnName)
        object["job_arguments"] = configuration.jobArguments
        object["migration_id"] = migrationID.map { JSONValue($0) } ?? .null
        object["batching"] = .string(batching.description)
        object["batch_size"] = JSONValue(pace.batchSize)
        object["sub_batch_size"] = JSONValue(pace.subBatchSize)
        object["pause_ms"] = JSONValue(pace.pauseMilliseconds)
        object["interval"] = JSONValue(pace.interval)
        put("estimated_seconds", workers)
        put("finalize_seconds", finalize)
        put("downtime_seconds", downtime)
        object["downtime_lanes"] = JSONValue(downtimeLanes)
        object["downtime_batches"] = downtime.map { JSONValue($0.batches) } ?? .null
        object["workers_batches"] = workers.map { JSONValue($0.batches) } ?? .null
        object["batches"] = JSONValue(batches)
        object["sampled_batches"] = JSONValue(samples.count)
        object["rows"] = JSONValue(rows)
        object["keys"] = JSONValue(keys)
        object["rows_exact"] = .bool(countsExact)
        object["wal_bytes"] = JSONValue(walBytes)
        object["sub_batch_timeout_seconds"] = JSONValue(subBatchTimeout)
        object["slowest_sub_batch_seconds"] = JSONValue(slowestSubBatch)
        object["sub_batch_timeout_risk"] = .string(timeoutRisk.rawValue)
        object["slowest_sample"] = slowestSample?.json ?? .null
        object["samples"] = .array(samples.map(\.json))
        object["bookkeeping_seconds_per_batch"] = JSONValue(bookkeeping.finalize)
        object["budget_seconds"] = JSONValue(budget)
        object["elapsed_seconds"] = JSONValue(elapsed)
        return .object(object)
    }
}
