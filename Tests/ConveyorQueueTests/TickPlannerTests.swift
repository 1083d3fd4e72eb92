import ConveyorRedis
import Testing

@testable import ConveyorQueue

@Suite("Tick planning and claim outcomes (pure)")
struct TickPlannerTests {
    let minutely = try! CronExpression(parsing: "* * * * *")
    let t = utc(2026, 5, 1, 10, 0)

    @Test("in step: the tick just due is claimed, the next one is when to wake")
    func inStep() {
        #expect(TickPlanner.plan(minutely, now: Double(t) + 0.002, baseline: t - 60) == .init(claim: t, missed: 0, wake: t + 60))
    }

    @Test("woken a little early: nothing to claim, wake at the tick")
    func early() {
        #expect(TickPlanner.plan(minutely, now: Double(t) - 0.001, baseline: t - 60) == .init(claim: nil, missed: 0, wake: t))
    }

    @Test("a tick already claimed (by this or another process) is not claimed again")
    func claimed() {
        #expect(TickPlanner.plan(minutely, now: Double(t) + 0.5, baseline: t) == .init(claim: nil, missed: 0, wake: t + 60))
        #expect(TickPlanner.plan(minutely, now: Double(t) + 0.5, baseline: t + 60).claim == nil, "a baseline ahead of the clock claims nothing")
    }

    @Test("after downtime only the latest due tick is claimed; the ones passed over count as missed")
    func downtime() {
        #expect(TickPlanner.plan(minutely, now: Double(t) + 30, baseline: t - 600) == .init(claim: t, missed: 9, wake: t + 60))
        let daily = try! CronExpression(parsing: "0 3 * * *")
        let plan = TickPlanner.plan(daily, now: Double(utc(2026, 5, 4, 15)), baseline: utc(2026, 5, 1, 3))
        #expect(plan == .init(claim: utc(2026, 5, 4, 3), missed: 2, wake: utc(2026, 5, 5, 3)))
    }

    @Test("an entry never claimed starts from now: nothing from before is made up")
    func newEntry() {
        let now = Double(t) + 42.7
        let baseline = TickPlanner.baseline(lastClaimed: nil, now: now)
        #expect(baseline == t + 42)
        #expect(TickPlanner.plan(minutely, now: now, baseline: baseline) == .init(claim: nil, missed: 0, wake: t + 60))
        #expect(TickPlanner.baseline(lastClaimed: t - 60, now: now) == t - 60)
    }

    @Test("every second: each second is its own tick")
    func everySecond() throws {
        let secondly = try CronExpression(parsing: "* * * * * *")
        #expect(TickPlanner.plan(secondly, now: Double(t) + 1.01, baseline: t) == .init(claim: t + 1, missed: 0, wake: t + 2))
        #expect(TickPlanner.plan(secondly, now: Double(t) + 5.01, baseline: t) == .init(claim: t + 5, missed: 4, wake: t + 6))
    }

    static let outcomes: [(PeriodicStore.Outcome, Int64)] = [
        (.enqueued(jid: "j"), 100), (.paused, 100), (.duplicate(heldBy: "j"), 100),
        (.taken(lastTick: 100), 100), (.taken(lastTick: 160), 160), (.taken(lastTick: 10), 40), (.early, 40),
    ]

    @Test("after a claim, the next plan starts from the claimed tick, the later one another process claimed, or (early) the old baseline", arguments: outcomes)
    func baselineAfterClaim(outcome: PeriodicStore.Outcome, expected: Int64) {
        #expect(outcome.baseline(afterClaiming: 100, previous: 40) == expected)
    }

    @Test("every reply of the claim script decodes; anything else is refused")
    func decoding() {
        func reply(_ parts: [String]) -> RedisReply { .array(parts.map { .bulkString(Array($0.utf8)) }) }
        #expect(PeriodicStore.Outcome.decode(reply(["enqueued", "12.5", "abc"]))! == (.enqueued(jid: "abc"), 12.5))
        #expect(PeriodicStore.Outcome.decode(reply(["taken", "12.5", "60"]))! == (.taken(lastTick: 60), 12.5))
        #expect(PeriodicStore.Outcome.decode(reply(["paused", "1", ""]))!.0 == .paused)
        #expect(PeriodicStore.Outcome.decode(reply(["duplicate", "1", "j"]))!.0 == .duplicate(heldBy: "j"))
        #expect(PeriodicStore.Outcome.decode(reply(["early", "1", ""]))!.0 == .early)
        #expect(PeriodicStore.Outcome.decode(reply(["taken", "1", "x"])) == nil)
        #expect(PeriodicStore.Outcome.decode(reply(["what", "1", ""])) == nil)
        #expect(PeriodicStore.Outcome.decode(.null) == nil)
    }
}
