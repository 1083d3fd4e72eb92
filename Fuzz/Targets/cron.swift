// Cron expressions. Invariants of next/previous tick, which any correct schedule has
// (at instants around DST changes in Europe and the US and an ordinary day):
// - nextTick(after: t) > t, and previousTick(atOrBefore:) of it is itself;
// - previousTick(atOrBefore: t) <= t, and the next tick after it is nextTick(after: t).

let instants: [Double] = [
    1_764_633_600,  // 2025-12-02 00:00 UTC
    1_774_745_999,  // 2026-03-29 00:59:59 UTC, a second before Europe springs forward
    1_792_890_000,  // 2026-10-25 01:00 UTC, Europe falls back
    1_793_512_800,  // 2026-11-01 06:00 UTC, US falls back
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCron(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size <= 256 else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let cron = try? CronExpression(parsing: text) else { return 0 }
    for t in instants {
        let next = cron.nextTick(after: t)
        if let next {
            guard Double(next) > t else { fatalError("invariant: \(text): nextTick(after: \(t)) = \(next) is not after it") }
            guard cron.previousTick(atOrBefore: Double(next)) == next else {
                fatalError("invariant: \(text): previousTick(atOrBefore: \(next)) = \(String(describing: cron.previousTick(atOrBefore: Double(next)))), not \(next)")
            }
        }
        if let previous = cron.previousTick(atOrBefore: t) {
            guard Double(previous) <= t else { fatalError("invariant: \(text): previousTick(atOrBefore: \(t)) = \(previous) is later") }
            guard cron.nextTick(after: Double(previous)) == next else {
                fatalError("invariant: \(text): after the previous tick \(previous) the next is \(String(describing: cron.nextTick(after: Double(previous)))), but after \(t) it is \(String(describing: next))")
            }
        }
    }
    return 0
}
