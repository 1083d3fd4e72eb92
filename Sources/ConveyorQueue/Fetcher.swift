import ConveyorPlatform
import ConveyorRedis
import Logging

/// A worker process's one fetcher thread: whenever the dispatcher wants jobs (a processor
/// is free, or the prefetch has run low), it moves them into the process's working list
/// with one script call and hands them over; when every queue is empty it waits for a
/// push (BLMOVE on a single queue, the doorbell on several) instead of polling. Once the
/// worker is quiet it pushes the jobs nobody started back to the front of their queues.
final class Fetcher {
    private let fetch: ReliableFetch
    private let dispatcher: JobDispatcher
    private let selector: QueueSelector
    private let signal: StopSignal
    private let idleBlock: Duration
    private let logger: Logger
    private let redis: RedisConnection
    private let doorbell: QueueDoorbell?
    private var trackingRefused = false
    private var random = SystemRandomNumberGenerator()
    private var number = 1
    /// The queue whose landing list the next fetch collects (after an idle BLMOVE).
    private var collect: Int?
    private var rotation = 0
    private let outage: OutageLog

    init(fetch: ReliableFetch, dispatcher: JobDispatcher, configuration: WorkerConfiguration, signal: StopSignal, logger: Logger) throws(RedisError) {
        self.fetch = fetch
        self.dispatcher = dispatcher
        selector = configuration.queues
        self.signal = signal
        idleBlock = configuration.idleBlock
        self.logger = logger
        var redisConfiguration = configuration.redis
        redisConfiguration.clientName = "conveyor-fetch"
        redis = try RedisConnection(redisConfiguration)
        doorbell = fetch.queues.count > 1 ? QueueDoorbell(configuration: configuration.redis, queueKeys: fetch.queueKeys) : nil
        outage = OutageLog(logger: logger, what: "Redis (fetch)")
    }

    func run() {
        defer {
            doorbell?.close()
            redis.close()
        }
        // A fetch whose reply was lost is sent again unchanged: it returns the same batch.
        var pending: ReliableFetch.FetchRequest?
        while let size = dispatcher.waitForDemand() {
            let request = pending ?? ReliableFetch.FetchRequest(
                number: number, order: selector.order(using: &random), limit: size, collect: collect)
            pending = request
            do {
                let batch = try fetch.fetch(request, on: redis)
                pending = nil
                number += 1
                collect = nil
                outage.recovered()
                if let batch {
                    let refused = dispatcher.deliver(batch.jobs.map { DispatchBook.Job(raw: $0, queueIndex: batch.queueIndex) })
                    if !refused.isEmpty { pushBack(refused) }
                    doorbell?.disarm(on: redis)
                } else {
                    try waitIdle()
                }
            } catch {
                outage.failed(error)
                signal.sleep(for: outage.backoff)
            }
        }
        // Quiet: collect a job an idle BLMOVE may have left, then push back what nobody started.
        var unstarted = dispatcher.returnedJobs()
        if pending != nil || collect != nil {
            let request = pending ?? ReliableFetch.FetchRequest(number: number, order: Array(fetch.queues.indices), limit: 0, collect: collect)
            if let batch = try? fetch.fetch(request, on: redis) {
                unstarted += batch.jobs.map { DispatchBook.Job(raw: $0, queueIndex: batch.queueIndex) }
            }
        }
        pushBack(unstarted)
    }

    /// Every queue was empty: wait (at most `idleBlock`) for a job to be pushed.
    private func waitIdle() throws(RedisError) {
        if let doorbell, !trackingRefused {
            if doorbell.isArmed(on: redis) {
                _ = try doorbell.wait(timeout: idleBlock)
                return
            }
            do {
                try doorbell.arm(on: redis)
                return  // fetch once more: a job pushed before arming rang no bell
            } catch where error.code == .server {
                trackingRefused = true
                logger.warning(
                    "this Redis refuses CLIENT TRACKING; idle pick-up over several queues falls back to waiting on one queue at a time",
                    metadata: ["error": .string(error.message)])
            }
        }
        let queueIndex = rotation % fetch.queues.count
        rotation &+= 1
        collect = queueIndex  // set first: a lost BLMOVE reply may still have moved a job
        if try !fetch.waitForJob(queueIndex: queueIndex, timeout: idleBlock, on: redis) { collect = nil }
    }

    /// Pushes unstarted jobs back, retrying through a short outage; after that they stay
    /// in the working list, which the graceful stop (or, after a crash, another process)
    /// pushes back.
    private func pushBack(_ jobs: [DispatchBook.Job]) {
        guard !jobs.isEmpty else { return }
        let deadline = ContinuousClock.now + .seconds(5)
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1))
        while true {
            do {
                let count = try fetch.pushBack(jobs, on: redis)
                if count > 0 { logger.info("pushed unstarted jobs back", metadata: ["count": "\(count)"]) }
                return
            } catch {
                let pause = backoff.next()
                if ContinuousClock.now + pause > deadline {
                    logger.error("could not push unstarted jobs back; the graceful stop or another process will", metadata: ["error": "\(error)"])
                    return
                }
                blockingSleep(pause)
            }
        }
    }
}

@available(*, unavailable)
extension Fetcher: Sendable {}
