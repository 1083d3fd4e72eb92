/// The tick decision of one periodic entry, as a pure function of its cron, the time and
/// the last tick known to be claimed: which tick (if any) to claim now, how many ticks that
/// claim passes over, and when to look again. Any number of processes plan alike; the claim
/// script lets exactly one of them enqueue each tick.
///
/// - In step: the tick just due is claimed; the next one is when to wake.
/// - After downtime (the last claimed tick is older than the latest due one): only the
///   latest due tick is claimed — a missed tick is enqueued once, not once per tick missed;
///   the ticks passed over are counted as missed.
/// - A baseline of "now" for an entry never claimed: nothing from before it is made up.
public enum TickPlanner {
    public struct Plan: Sendable, Equatable {
        /// The tick to claim now (epoch seconds), if one is due.
        public var claim: Int64?
        /// Ticks strictly between the baseline and `claim` that will never be enqueued.
        public var missed: Int
        /// The next tick after now: when to plan again (nil: the cron has no more ticks).
        public var wake: Int64?

        public init(claim: Int64?, missed: Int, wake: Int64?) {
            self.claim = claim
            self.missed = missed
            self.wake = wake
        }
    }

    /// `baseline`: the last tick claimed (by any process), or the moment this process
    /// started scheduling an entry that was never claimed.
    public static func plan(_ cron: CronExpression, now: Double, baseline: Int64) -> Plan {
        let wake = cron.nextTick(after: now)
        guard let due = cron.previousTick(atOrBefore: now), due > baseline else {
            return Plan(claim: nil, missed: 0, wake: wake)
        }
        return Plan(claim: due, missed: cron.ticks(between: baseline, and: due), wake: wake)
    }

    /// The baseline of an entry: its last claimed tick from Redis, else now.
    public static func baseline(lastClaimed: Int64?, now: Double) -> Int64 {
        lastClaimed ?? Int64(now.rounded(.down))
    }
}
