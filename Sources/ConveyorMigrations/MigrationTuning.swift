import ConveyorJSON

/// A live change of a migration's pace (`conveyor migrations update`): the values given
/// replace the migration's own from its next batch. Pure: `apply` checks every value
/// against the limits and against each other and says which limit a refused value breaks.
public struct MigrationTuning: Sendable, Equatable {
    public var batchSize: Int?
    public var subBatchSize: Int?
    public var pauseMilliseconds: Int?
    public var interval: Int?
    public var maxBatchSize: Int?

    public init(batchSize: Int? = nil, subBatchSize: Int? = nil, pauseMilliseconds: Int? = nil, interval: Int? = nil, maxBatchSize: Int? = nil) {
        self.batchSize = batchSize
        self.subBatchSize = subBatchSize
        self.pauseMilliseconds = pauseMilliseconds
        self.interval = interval
        self.maxBatchSize = maxBatchSize
    }

    /// The limits (both included).
    public enum Limits {
        public static let batchSize = 1...10_000_000
        public static let subBatchSize = 1...1_000_000
        /// Ten minutes between sub-batches at most.
        public static let pauseMilliseconds = 0...600_000
        /// A day between batches at most.
        public static let interval = 0...86_400
        public static let maxBatchSize = 1...10_000_000
    }

    public var isEmpty: Bool { self == MigrationTuning() }

    /// The pace a migration has (or would have).
    public struct Values: Sendable, Equatable {
        public var batchSize: Int
        public var subBatchSize: Int
        public var pauseMilliseconds: Int
        public var interval: Int
        public var maxBatchSize: Int?

        public init(batchSize: Int, subBatchSize: Int, pauseMilliseconds: Int, interval: Int, maxBatchSize: Int?) {
            self.batchSize = batchSize
            self.subBatchSize = subBatchSize
            self.pauseMilliseconds = pauseMilliseconds
            self.interval = interval
            self.maxBatchSize = maxBatchSize
        }

        public init(_ migration: BatchedMigration) {
            self.init(
                batchSize: migration.batchSize, subBatchSize: migration.subBatchSize, pauseMilliseconds: migration.pauseMilliseconds,
                interval: migration.interval, maxBatchSize: migration.maxBatchSize)
        }

        /// The fields that differ, as `{"batch_size": {"before": …, "after": …}}`.
        public func changes(to other: Values) -> JSONValue {
            var object = JSONObject()
            func field(_ name: String, _ a: Int?, _ b: Int?) {
                guard a != b else { return }
                object[name] = AuditLog.change(a.map { JSONValue($0) } ?? .null, b.map { JSONValue($0) } ?? .null)
            }
            field("batch_size", batchSize, other.batchSize)
            field("sub_batch_size", subBatchSize, other.subBatchSize)
            field("pause_ms", pauseMilliseconds, other.pauseMilliseconds)
            field("interval", interval, other.interval)
            field("max_batch_size", maxBatchSize, other.maxBatchSize)
            return .object(object)
        }
    }

    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The values after this change, or why it is refused (naming the limit broken).
    public func apply(to current: Values) -> Result<Values, Refusal> {
        if isEmpty {
            return .failure(Refusal(description: "nothing to update: give --batch-size, --sub-batch-size, --pause-ms, --interval or --max-batch-size"))
        }
        func check(_ value: Int?, _ option: String, _ range: ClosedRange<Int>) -> Refusal? {
            guard let value, !range.contains(value) else { return nil }
            return Refusal(description: "\(option) \(value) is out of range: it must be between \(range.lowerBound) and \(range.upperBound)")
        }
        let checks = [
            check(batchSize, "--batch-size", Limits.batchSize), check(subBatchSize, "--sub-batch-size", Limits.subBatchSize),
            check(pauseMilliseconds, "--pause-ms", Limits.pauseMilliseconds), check(interval, "--interval", Limits.interval),
            check(maxBatchSize, "--max-batch-size", Limits.maxBatchSize),
        ]
        if let refusal = checks.compactMap({ $0 }).first { return .failure(refusal) }
        var next = current
        next.batchSize = batchSize ?? current.batchSize
        next.subBatchSize = subBatchSize ?? current.subBatchSize
        next.pauseMilliseconds = pauseMilliseconds ?? current.pauseMilliseconds
        next.interval = interval ?? current.interval
        next.maxBatchSize = maxBatchSize ?? current.maxBatchSize
        if next.subBatchSize > next.batchSize {
            return .failure(Refusal(description: "--sub-batch-size \(next.subBatchSize) cannot be larger than the batch size (\(next.batchSize)): the limit is the batch size"))
        }
        if let max = next.maxBatchSize, next.batchSize > max {
            return .failure(Refusal(description: "--batch-size \(next.batchSize) cannot be larger than the max batch size (\(max)): the limit is --max-batch-size"))
        }
        return .success(next)
    }
}
