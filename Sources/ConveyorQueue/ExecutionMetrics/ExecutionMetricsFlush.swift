import ConveyorRedis

/// Turns a tally into the Redis commands Sidekiq's own flush sends, for both layouts:
/// `HINCRBY` of `<Class>|p`, `|f` (only when some failed) and `|ms` (only when some
/// succeeded) into each counters hash, then its `EXPIRE`; per class with successful runs,
/// `BITFIELD key OVERFLOW SAT INCRBY u16 #<bucket> <count> …` and `EXPIRE` per histogram.
///
/// Durations are summed in microseconds; the sub-millisecond rest of each class is carried
/// to the next flush, so a class of 0.3 ms jobs adds up to its true total instead of 0.
public struct ExecutionMetricsFlush: Sendable, Equatable {
    /// Microseconds per class not yet written as whole milliseconds.
    public private(set) var carriedMicroseconds: [String: Int] = [:]

    public init() {}

    /// The commands for `tally` at `epochSeconds`, and the carry to keep once they succeeded.
    public func plan(_ tally: ExecutionTally, at epochSeconds: Double) -> (commands: [RedisCommand], next: ExecutionMetricsFlush) {
        guard !tally.isEmpty else { return ([], self) }
        var next = self
        let keys = SidekiqMetricsKeys(epochSeconds: epochSeconds)
        var fields: [(field: String, value: Int)] = []
        var histograms: [RedisCommand] = []
        for (name, counts) in tally.classes {
            if counts.processed != 0 { fields.append((name + "|p", counts.processed)) }
            if counts.failed != 0 { fields.append((name + "|f", counts.failed)) }
            // A flush can read a job's time before its count (threads count without locks):
            // what is there is written, and the count follows with the next flush.
            guard counts.succeeded > 0 || counts.microseconds > 0 || !counts.histogram.isEmpty else { continue }
            let micros = counts.microseconds + (carriedMicroseconds[name] ?? 0)
            fields.append((name + "|ms", micros / 1000))
            next.carriedMicroseconds[name] = micros % 1000
            for key in [keys.histogramKeyV7(name), keys.histogramKeyV8(name)] {
                var bitfield = RedisCommand("BITFIELD")
                bitfield.append(key)
                bitfield.append("OVERFLOW")
                bitfield.append("SAT")
                for (bucket, count) in counts.histogram.counts.enumerated() where count > 0 {
                    bitfield.append("INCRBY")
                    bitfield.append("u16")
                    bitfield.append("#\(bucket)")
                    // The counter saturates at 65,535 anyway; a larger increment says nothing more.
                    bitfield.append(min(count, Int(UInt16.max)))
                }
                histograms.append(bitfield)
                histograms.append(RedisCommand(["EXPIRE", key, SidekiqMetricsKeys.histogramTTL]))
            }
        }
        var commands: [RedisCommand] = []
        for (key, ttl) in [(keys.minuteKeyV7, SidekiqMetricsKeys.minuteTTL), (keys.minuteKeyV8, SidekiqMetricsKeys.minuteTTL), (keys.tenMinuteKeyV8, SidekiqMetricsKeys.tenMinuteTTL)] {
            for (field, value) in fields {
                commands.append(RedisCommand(["HINCRBY", key, field, value]))
            }
            commands.append(RedisCommand(["EXPIRE", key, ttl]))
        }
        return (commands + histograms, next)
    }
}
