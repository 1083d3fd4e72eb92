import ConveyorJSON

/// What happens to a job that raised: Sidekiq's rules as a pure function of the payload,
/// the error, the time and a random source.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int
    /// How many characters of an error message are kept.
    public var maxMessageLength: Int

    public init(maxRetries: Int = 25, maxMessageLength: Int = 10_000) {
        self.maxRetries = maxRetries
        self.maxMessageLength = maxMessageLength
    }

    public enum Outcome: Sendable, Equatable {
        /// Schedule in the `retry` set at `at` (epoch seconds).
        case retry(JobPayload, at: Double)
        /// Retries exhausted (or `retry: 0`): into the `dead` set.
        case dead(JobPayload)
        /// `retry: false`, or exhausted with `dead: false`: dropped.
        case discard
    }

    /// Sidekiq's delay: `count⁴ + 15 + rand(10) × (count + 1)` seconds.
    public static func delay(retryCount count: Int, random: Int) -> Double {
        Double(count * count * count * count + 15 + random * (count + 1))
    }

    /// Decides and returns the updated payload. `queue` is where the job was fetched from.
    public func outcome<R: RandomNumberGenerator>(
        for original: JobPayload, queue: String, errorClass: String, errorMessage: String,
        backtrace: [String] = [], now: Double, random: inout R
    ) -> Outcome {
        let max: Int
        switch original.retry {
        case .disabled: return .discard
        case .enabled: max = maxRetries
        case .limit(let n): max = n
        }
        var payload = original
        payload.queue = original.retryQueue ?? queue
        payload.object["error_message"] = .string(String(errorMessage.prefix(maxMessageLength)))
        payload.object["error_class"] = .string(errorClass)
        let count: Int
        if let previous = payload.retryCount {
            count = previous + 1
            payload.setTimestamp("retried_at", now)
        } else {
            count = 0
            payload.setTimestamp("failed_at", now)
        }
        payload.object["retry_count"] = JSONValue(count)
        if let lines = Self.backtraceLimit(payload.object["backtrace"]), !backtrace.isEmpty {
            payload.object["error_backtrace"] = .array(backtrace.prefix(lines).map { .string($0) })
        }
        if count < max {
            let jitter = Int.random(in: 0..<10, using: &random)
            return .retry(payload, at: now + Self.delay(retryCount: count, random: jitter))
        }
        return payload.keepsDead ? .dead(payload) : .discard
    }

    /// `backtrace: true` keeps all lines, `backtrace: N` the first N.
    static func backtraceLimit(_ option: JSONValue?) -> Int? {
        switch option {
        case .bool(true)?: return Int.max
        case .number(let n)?: return n.intValue.flatMap { $0 > 0 ? $0 : nil }
        default: return nil
        }
    }
}
