import Testing

@testable import ConveyorQueue

@Suite("Fair dispatch bookkeeping")
struct DispatchBookTests {
    func job(_ n: Int, queue: Int = 0) -> DispatchBook.Job { DispatchBook.Job(raw: Array("job-\(n)".utf8), queueIndex: queue) }
    func jobs(_ range: Range<Int>) -> [DispatchBook.Job] { range.map { job($0) } }

    @Test("any free processor takes the oldest unstarted job: a slow job holds up no other")
    func slowJobHoldsNothing() {
        var book = DispatchBook(concurrency: 3, maxPrefetch: 10, prefetchWork: 0.01)
        #expect(book.deliver(jobs(0..<5)).isEmpty)
        #expect(book.take() == job(0))  // the slow one: runs for a long time
        #expect(book.take() == job(1))
        #expect(book.take() == job(2))
        #expect(book.take() == nil, "every processor is busy")
        book.finish(elapsed: 0.001)  // job 1 finished; job 0 still runs
        #expect(book.take() == job(3))
        book.finish(elapsed: 0.001)
        #expect(book.take() == job(4))
        #expect(book.running == 3)
        #expect(book.bufferedCount == 0)
    }

    @Test("an idle process fetches one job per free processor plus the prefetch")
    func idleFetchSize() {
        let book = DispatchBook(concurrency: 10, maxPrefetch: 100, prefetchWork: 0.01)
        // Unmeasured jobs count as prefetchWork seconds each: one extra job per processor.
        #expect(book.prefetch == 10)
        #expect(book.fetchSize == 20)
    }

    @Test("fast jobs grow the prefetch to its maximum, slow jobs shrink it to none")
    func prefetchFollowsJobTimes() {
        var fast = DispatchBook(concurrency: 10, maxPrefetch: 100, prefetchWork: 0.01)
        for _ in 0..<50 {
            _ = fast.deliver([job(0)])
            _ = fast.take()
            fast.finish(elapsed: 0.000_01)
        }
        #expect(fast.prefetch == 100)
        #expect(fast.fetchSize == 110)

        var slow = DispatchBook(concurrency: 10, maxPrefetch: 100, prefetchWork: 0.01)
        for _ in 0..<50 {
            _ = slow.deliver([job(0)])
            _ = slow.take()
            slow.finish(elapsed: 4)
        }
        #expect(slow.prefetch == 0)
        #expect(slow.fetchSize == 10, "one job per free processor, none held beyond")
        _ = slow.deliver(jobs(0..<10))
        #expect(slow.fetchSize == 0, "a job waits for each free processor already")
        _ = slow.take()
        #expect(slow.fetchSize == 0, "the taken job's processor is busy now")
    }

    @Test("with processors busy, the buffer is refilled only once it has fallen to half the prefetch")
    func refillAtHalf() {
        var book = DispatchBook(concurrency: 2, maxPrefetch: 8, prefetchWork: 1)
        #expect(book.prefetch == 2)  // unmeasured: prefetchWork seconds per job
        for _ in 0..<20 {
            _ = book.deliver([job(0)])
            _ = book.take()
            book.finish(elapsed: 0.001)
        }
        #expect(book.prefetch == 8)
        _ = book.deliver(jobs(0..<10))
        _ = book.take()
        _ = book.take()
        #expect(book.bufferedCount == 8)
        #expect(book.fetchSize == 0)
        for _ in 0..<4 {
            book.finish(elapsed: 0.001)
            _ = book.take()
        }
        #expect(book.bufferedCount == 4)
        #expect(book.fetchSize == 4, "half the prefetch is gone: fetch it again")
    }

    @Test("a free processor with nothing to take always makes a fetch due")
    func freeProcessorFetches() {
        var book = DispatchBook(concurrency: 4, maxPrefetch: 100, prefetchWork: 0.01)
        _ = book.deliver(jobs(0..<3))
        for _ in 0..<3 { _ = book.take() }
        #expect(book.freeProcessors == 1)
        #expect(book.fetchSize >= 1)
    }

    @Test("quiet hands back the unstarted jobs oldest first and refuses later deliveries")
    func quietReturnsUnstarted() {
        var book = DispatchBook(concurrency: 2, maxPrefetch: 10, prefetchWork: 0.01)
        _ = book.deliver(jobs(0..<5))
        _ = book.take()
        #expect(book.quiet() == jobs(1..<5))
        #expect(book.take() == nil)
        #expect(book.fetchSize == 0)
        #expect(book.deliver(jobs(5..<7)) == jobs(5..<7))
        #expect(book.bufferedCount == 0)
        #expect(book.running == 1, "the running job still finishes")
        book.finish(elapsed: 0.1)
        #expect(book.running == 0)
    }

    @Test("order holds across many deliveries and takes (the buffer compacts without losing jobs)")
    func orderAcrossCompaction() {
        var book = DispatchBook(concurrency: 1, maxPrefetch: 100, prefetchWork: 0.01)
        var delivered = 0
        var taken: [DispatchBook.Job] = []
        for round in 0..<50 {
            _ = book.deliver(jobs(delivered..<(delivered + 37)))
            delivered += 37
            for _ in 0..<(round % 2 == 0 ? 20 : 60) {
                guard let next = book.take() else { break }
                taken.append(next)
                book.finish(elapsed: 0.0001)
            }
        }
        while let next = book.take() {
            taken.append(next)
            book.finish(elapsed: 0.0001)
        }
        #expect(taken == jobs(0..<delivered))
    }
}
