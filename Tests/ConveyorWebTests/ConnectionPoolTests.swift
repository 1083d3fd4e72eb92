import Foundation
import Synchronization
import Testing

@testable import ConveyorWeb

@Suite("Web connection pool")
struct ConnectionPoolTests {
    /// Counts bodies running at once; bodies block until the test opens the gate.
    final class Probe: Sendable {
        let running = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let started = Atomic<Int>(0)
        let gate = DispatchSemaphore(value: 0)

        func body() {
            started.add(1, ordering: .relaxed)
            let now = running.add(1, ordering: .relaxed).newValue
            var seen = peak.load(ordering: .relaxed)
            while now > seen, !peak.compareExchange(expected: seen, desired: now, ordering: .relaxed).exchanged {
                seen = peak.load(ordering: .relaxed)
            }
            gate.wait()
            running.subtract(1, ordering: .relaxed)
        }
    }

    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("requests beyond poolSize wait suspended in the pool's queue, not on a parked GCD thread, and all finish")
    func waitsForAFreeSlot() async throws {
        let pool = ConnectionPool(configuration: WebConfiguration(poolSize: 2))
        let probe = Probe()
        let total = 20
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<total {
                group.addTask { try await pool.run { _ in probe.body(); return i } }
            }
            // Two bodies run; the other 18 requests are continuations in the gate. The old
            // pool dispatched every request at once, parking 18 GCD threads in a semaphore.
            #expect(await Self.eventually { probe.started.load(ordering: .relaxed) == 2 && pool.slots.counts.waiting == total - 2 })
            #expect(pool.slots.counts == (free: 0, waiting: total - 2))
            try await Task.sleep(for: .milliseconds(100))
            #expect(probe.started.load(ordering: .relaxed) == 2, "a request was dispatched while both slots were busy")
            for _ in 0..<total { probe.gate.signal() }
            var results: [Int] = []
            for try await value in group { results.append(value) }
            #expect(results.sorted() == Array(0..<total))
        }
        #expect(probe.peak.load(ordering: .relaxed) == 2)
        #expect(pool.slots.counts == (free: 2, waiting: 0))
    }

    @Test("a throwing body frees its slot")
    func throwingBodyReleases() async throws {
        struct Boom: Error {}
        let pool = ConnectionPool(configuration: WebConfiguration(poolSize: 1))
        for _ in 0..<3 {
            await #expect(throws: Boom.self) { try await pool.run { _ -> Int in throw Boom() } }
        }
        #expect(try await pool.run { _ in 7 } == 7)
        #expect(pool.slots.counts == (free: 1, waiting: 0))
    }

    @Test("the gate hands slots to waiters first come, first served")
    func fifo() async throws {
        let gate = SlotGate(limit: 1)
        await gate.acquire()
        final class Order: Sendable { let items = Mutex<[Int]>([]) }
        let order = Order()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                group.addTask {
                    await gate.acquire()
                    order.items.withLock { $0.append(i) }
                    gate.release()
                }
                // Each waiter is queued before the next one starts.
                #expect(await Self.eventually { gate.counts.waiting == i + 1 })
            }
            gate.release()
            try await group.waitForAll()
        }
        #expect(order.items.withLock { $0 } == [0, 1, 2, 3, 4])
        #expect(gate.counts == (free: 1, waiting: 0))
    }
}
