import ConveyorPlatform
import Synchronization
import Testing

@testable import ConveyorQueue

@Suite("Job dispatcher (threads)")
struct JobDispatcherTests {
    @Test("processor threads and a fetcher thread hand over every job exactly once")
    func everyJobOnce() throws {
        let total = 20_000
        let dispatcher = JobDispatcher(book: DispatchBook(concurrency: 4, maxPrefetch: 50, prefetchWork: 0.01))
        let seen = Mutex([Int](repeating: 0, count: total))
        let threads = ThreadGroup()
        for index in 0..<4 {
            try threads.spawn("p\(index)") {
                var finished: Double?
                while case .job(let job) = dispatcher.next(finished: finished, wait: true) {
                    let n = Int(String(decoding: job.raw, as: UTF8.self))!
                    seen.withLock { $0[n] += 1 }
                    finished = 0.000_01
                    if seen.withLock({ $0.reduce(0, +) }) == total { dispatcher.quiet() }
                }
            }
        }
        try threads.spawn("fetcher") {
            var next = 0
            while next < total, let size = dispatcher.waitForDemand() {
                let end = min(total, next + size)
                let refused = dispatcher.deliver((next..<end).map { DispatchBook.Job(raw: Array(String($0).utf8), queueIndex: 0) })
                #expect(refused.isEmpty)
                next = end
            }
        }
        #expect(threads.wait(timeout: .seconds(60)), "threads still running: a waiter was never woken")
        #expect(seen.withLock { $0 } == [Int](repeating: 1, count: total))
    }

    @Test("quiet wakes waiting processors and the fetcher, and keeps the unstarted jobs for pushing back")
    func quietWakesEveryone() throws {
        let dispatcher = JobDispatcher(book: DispatchBook(concurrency: 2, maxPrefetch: 0, prefetchWork: 0))
        let results = Mutex<[String]>([])
        let threads = ThreadGroup()
        for index in 0..<2 {
            try threads.spawn("p\(index)") {
                let next = dispatcher.next(finished: nil, wait: true)
                results.withLock { $0.append(next == .quiet ? "quiet" : "other") }
            }
        }
        #expect(threads.wait(timeout: .milliseconds(200)) == false, "processors wait while nothing is fetched")
        dispatcher.quiet()
        #expect(threads.wait(timeout: .seconds(10)))
        #expect(results.withLock { $0 } == ["quiet", "quiet"])
        #expect(dispatcher.waitForDemand() == nil)

        let busy = JobDispatcher(book: DispatchBook(concurrency: 1, maxPrefetch: 0, prefetchWork: 0))
        _ = busy.deliver([DispatchBook.Job(raw: [1], queueIndex: 0), DispatchBook.Job(raw: [2], queueIndex: 0)])
        #expect(busy.next(finished: nil, wait: false) == .job(DispatchBook.Job(raw: [1], queueIndex: 0)))
        busy.quiet()
        #expect(busy.returnedJobs() == [DispatchBook.Job(raw: [2], queueIndex: 0)])
        #expect(busy.returnedJobs().isEmpty, "handed back once")
    }
}
