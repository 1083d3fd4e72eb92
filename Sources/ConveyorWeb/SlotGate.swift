import Synchronization

/// At most `limit` holders at a time, for async callers: `acquire` returns at once while a
/// slot is free and otherwise suspends the task (no thread is parked) on a FIFO queue of
/// continuations; `release` hands the slot straight to the longest waiter.
final class SlotGate: Sendable {
    private struct State {
        var free: Int
        var waiters: [UnsafeContinuation<Void, Never>] = []
        var head = 0
        var waiting: Int { waiters.count - head }
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(free: max(1, limit)))
    }

    func acquire() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            guard state.waiting > 0 else {
                state.free += 1
                return nil
            }
            let continuation = state.waiters[state.head]
            state.head += 1
            if state.head > 64, state.head * 2 > state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            return continuation
        }
        next?.resume()
    }

    /// Slots free and tasks waiting, for tests.
    var counts: (free: Int, waiting: Int) { state.withLock { ($0.free, $0.waiting) } }
}
