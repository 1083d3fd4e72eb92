import ConveyorPlatform
import ConveyorRedis

/// Reliable fetch, whole (Sidekiq's `fetch.rb`, made reliable as Sidekiq Pro's
/// super_fetch is): the one owner of the keys a worker process parks jobs in while it
/// runs them, their registry entries and liveness lease, and every script that moves jobs
/// in or out of them — fetch, acknowledge, fail, push back, recover, and the claims of
/// `steal`. A job is always in exactly one place: its queue, this process's landing or
/// working list, or retry/dead — never only in a process's memory.
///
/// Keys (Conveyor's own, under `conveyor:`, invisible to Sidekiq's readers):
/// - `conveyor:working:<identity>:<queue>` LIST: jobs fetched and not yet finished.
/// - `conveyor:landing:<identity>:<queue>` LIST: where an idle `BLMOVE` drops a job; the
///   next fetch moves it on, so even a lost `BLMOVE` reply strands nothing.
/// - `conveyor:fetched:<identity>` STRING: the last fetch (number, queue, count), so a
///   fetch retried after a lost reply returns that batch instead of taking another.
/// - `conveyor:working-lists` HASH: list key → "<identity>\t<queue>" for every list above,
///   so any live process can find a dead one's jobs.
/// - `conveyor:alive:<identity>`: the liveness lease, renewed by each heartbeat.
///
/// The registry and lease formats are those of the first release, whose recovery script
/// reads them; so workers of both releases recover each other's jobs during an upgrade.
/// Methods take the caller's connection: a connection belongs to one thread.
public struct ReliableFetch: Sendable {
    public let identity: String
    /// The worker's queue names, in configuration order.
    public let queues: [String]
    let queueKeys: [String]
    let workingLists: [String]
    let landingLists: [String]
    let fetchRecord: String

    public init(identity: String, queues: [String]) {
        self.identity = identity
        self.queues = queues
        queueKeys = queues.map(RedisKeys.queue)
        workingLists = queues.map { Self.workingList(identity: identity, queue: $0) }
        landingLists = queues.map { Self.landingList(identity: identity, queue: $0) }
        fetchRecord = Self.fetchRecordPrefix + identity
    }

    // MARK: - Keys

    public static let registry = "conveyor:working-lists"
    public static let alivePrefix = "conveyor:alive:"
    static let fetchRecordPrefix = "conveyor:fetched:"
    /// Held briefly by the process that scans for orphaned lists.
    public static let recoveryLock = "conveyor:recovery-lock"

    public static func workingList(identity: String, queue: String) -> String { "conveyor:working:\(identity):\(queue)" }
    static func landingList(identity: String, queue: String) -> String { "conveyor:landing:\(identity):\(queue)" }
    public static func alive(_ identity: String) -> String { alivePrefix + identity }
    /// The registry value naming a list's owner and the queue its jobs go back to.
    public static func owner(identity: String, queue: String) -> String { "\(identity)\t\(queue)" }

    /// This process's registry entries (list key, owner).
    public var registryEntries: [(String, String)] {
        queues.indices.flatMap { i in
            [(workingLists[i], Self.owner(identity: identity, queue: queues[i])),
             (landingLists[i], Self.owner(identity: identity, queue: queues[i]))]
        }
    }

    /// Registers this process's lists and takes (or renews) its lease, in one pipeline
    /// (the heartbeat appends these commands to its own).
    public func registrationCommands(lease: Duration) -> [RedisCommand] {
        var registry = RedisCommand("HSET")
        registry.append(Self.registry)
        for (key, owner) in registryEntries {
            registry.append(key)
            registry.append(owner)
        }
        var alive = RedisCommand("SET")
        alive.append(Self.alive(identity))
        alive.append(String(ProcessFacts.pid))
        alive.append("PX")
        alive.append(max(1, Int(lease.seconds * 1000)))
        return [alive, registry]
    }

    // MARK: - Fetch

    /// A fetch to send (and, after a lost reply, send again unchanged).
    struct FetchRequest: Equatable {
        /// Fetch number: the same number again returns the same batch.
        var number: Int
        /// Queue indices in the order to try.
        var order: [Int]
        var limit: Int
        /// The queue whose landing list to collect first (after an idle BLMOVE), if any.
        var collect: Int?
    }

    /// Jobs moved into this process's working list, oldest first, all of one queue.
    struct Batch: Equatable {
        var queueIndex: Int
        var jobs: [[UInt8]]
    }

    /// Runs the fetch script; nil when every queue was empty.
    func fetch(_ request: FetchRequest, on redis: RedisConnection) throws(RedisError) -> Batch? {
        let reply = try redis.evaluate(Self.fetchScript) { command in
            command.append(1 + request.order.count * 3)
            command.append(fetchRecord)
            for i in request.order {
                command.append(queueKeys[i])
                command.append(workingLists[i])
                command.append(landingLists[i])
            }
            command.append(request.number)
            command.append(request.limit)
            command.append(request.collect.flatMap { request.order.firstIndex(of: $0) }.map { $0 + 1 } ?? 0)
        }
        guard case .array(let parts) = reply, parts.count == 2, let key = parts[0].string,
            let queueIndex = queueKeys.firstIndex(of: key), case .array(let items) = parts[1]
        else { return nil }
        return Batch(queueIndex: queueIndex, jobs: items.compactMap(\.bytes))
    }

    /// The idle wait of a single-queue worker: blocks up to `timeout` for a job and moves
    /// it into the queue's landing list (collected by the next fetch). True when a job
    /// may have landed.
    func waitForJob(queueIndex: Int, timeout: Duration, on redis: RedisConnection) throws(RedisError) -> Bool {
        var blmove = RedisCommand("BLMOVE")
        blmove.append(queueKeys[queueIndex])
        blmove.append(landingLists[queueIndex])
        blmove.append("RIGHT")
        blmove.append("LEFT")
        blmove.append(timeout.seconds)
        return try redis.sendBlocking(blmove, blockFor: timeout) != .null
    }

    // MARK: - Finishing a job

    /// The command that acknowledges a finished job: removes it from the working list.
    /// Sent with `sendWithoutReply` as soon as the job finishes, before its processor
    /// takes another, so after a crash only jobs that were running run again. Harmless when
    /// the job is gone already (another process recovered the list).
    func acknowledgement(of raw: [UInt8], queueIndex: Int) -> RedisCommand {
        var lrem = RedisCommand("LREM")
        lrem.append(workingLists[queueIndex])
        lrem.append(-1)
        lrem.append(bytes: raw)
        return lrem
    }

    /// Where a failed job goes.
    enum FailureTarget {
        case retry(payload: [UInt8], at: Double)
        case dead(payload: [UInt8], now: Double, cutoff: Double, maxJobs: Int)
        case discard
    }

    /// Moves a failed job from the working list to retry or dead (trimming dead) in one
    /// script call: never in both places, never in neither.
    func fail(_ raw: [UInt8], queueIndex: Int, to target: FailureTarget, on redis: RedisConnection) throws(RedisError) {
        try redis.evaluate(Self.failScript) { command in
            command.append(2)
            command.append(workingLists[queueIndex])
            switch target {
            case .retry(let payload, let at):
                command.append(RedisKeys.retry)
                command.append(bytes: raw)
                command.append(bytes: payload)
                command.append(at)
                command.append("retry")
                command.append(0)
                command.append(0)
            case .dead(let payload, let now, let cutoff, let maxJobs):
                command.append(RedisKeys.dead)
                command.append(bytes: raw)
                command.append(bytes: payload)
                command.append(now)
                command.append("dead")
                command.append(cutoff)
                command.append(maxJobs)
            case .discard:
                command.append(RedisKeys.retry)
                command.append(bytes: raw)
                command.append("")
                command.append(0)
                command.append("drop")
                command.append(0)
                command.append(0)
            }
        }
    }

    // MARK: - Pushing back

    /// Puts unstarted jobs (oldest first) back at the front of their queues, in order, as
    /// a quiet or stopping worker must. Only jobs still in this process's working list are
    /// pushed, so a job recovered by another process meanwhile is not pushed twice.
    func pushBack(_ jobs: [DispatchBook.Job], on redis: RedisConnection) throws(RedisError) -> Int {
        var byQueue: [Int: [[UInt8]]] = [:]
        for job in jobs { byQueue[job.queueIndex, default: []].append(job.raw) }
        var total = 0
        for (queueIndex, raws) in byQueue.sorted(by: { $0.key < $1.key }) {
            let reply = try redis.evaluate(Self.pushBackScript) { command in
                command.append(3)
                command.append(workingLists[queueIndex])
                command.append(queueKeys[queueIndex])
                command.append(RedisKeys.queues)
                command.append(queues[queueIndex])
                for raw in raws.reversed() { command.append(bytes: raw) }
            }
            total += reply.int ?? 0
        }
        return total
    }

    /// At the end of a graceful stop, after every processor has finished (or the timeout
    /// passed): everything left in this process's lists — unstarted jobs and jobs still
    /// running — goes back to the front of its queue; the lists, their registry entries
    /// and the fetch record are removed. Finished jobs were acknowledged already.
    func releaseAll(on redis: RedisConnection) throws(RedisError) -> Int {
        try redis.load(Self.releaseScript)
        var commands: [RedisCommand] = []
        for i in queues.indices {
            // Landing first: its job is newer than those already fetched, so it must end
            // up behind them.
            for list in [landingLists[i], workingLists[i]] {
                commands.append(RedisConnection.evalshaCommand(Self.releaseScript) { command in
                    command.append(4)
                    command.append(list)
                    command.append(queueKeys[i])
                    command.append(RedisKeys.queues)
                    command.append(Self.registry)
                    command.append(queues[i])
                })
            }
        }
        let moves = commands.count
        commands.append(RedisCommand(["DEL", fetchRecord]))
        var total = 0
        for (i, reply) in try redis.pipeline(commands).enumerated() {
            if let error = reply.error { throw error }
            if i < moves { total += reply.int ?? 0 }
        }
        return total
    }

    /// Drops the lease (after `releaseAll`), so nobody waits for it to lapse.
    func deregistrationCommands() -> [RedisCommand] {
        var hdel = RedisCommand("HDEL")
        hdel.append(Self.registry)
        for (key, _) in registryEntries { hdel.append(key) }
        return [hdel, RedisCommand(["UNLINK", Self.alive(identity), fetchRecord])]
    }

    // MARK: - Recovery

    /// Pushes every list whose owner's lease lapsed back to the front of its queue (the
    /// owner died without a graceful stop). Returns the number of jobs recovered.
    public static func recoverOrphans(on redis: RedisConnection) throws(RedisError) -> Int {
        try redis.evaluate(recoverScript) { command in
            command.append(2)
            command.append(registry)
            command.append(RedisKeys.queues)
            command.append(alivePrefix)
            command.append(RedisKeys.queue(""))
            command.append(fetchRecordPrefix)
        }.int ?? 0
    }

    // MARK: - Claims (steal)

    /// A claim list for a one-off consumer (`steal`): registered like a working list, so a
    /// live worker recovers what it held if it dies, once its lease lapses.
    public struct Claim: Sendable {
        public let identity: String
        public let queue: String
        public let list: String

        public init(identity: String, queue: String) {
            self.identity = identity
            self.queue = queue
            list = ReliableFetch.workingList(identity: identity, queue: queue)
        }

        public func register(on redis: RedisConnection) throws(RedisError) {
            try redis.command("HSET", ReliableFetch.registry, list, ReliableFetch.owner(identity: identity, queue: queue))
        }

        /// Moves each entry this call removes from `key` (a queue, or the scheduled set when
        /// `sorted`) into the claim list; one flag per entry: true when it was claimed here.
        public func claim(_ raws: [[UInt8]], from key: String, sorted: Bool, on redis: RedisConnection) throws(RedisError) -> [Bool] {
            let reply = try redis.evaluate(ReliableFetch.claimScript) { command in
                command.append(2)
                command.append(key)
                command.append(list)
                command.append(sorted ? "sorted" : "list")
                for raw in raws { command.append(bytes: raw) }
            }
            let flags = reply.array?.map { $0.int == 1 } ?? []
            guard flags.count == raws.count else {
                throw RedisError(.unexpectedReply, "claim returned \(flags.count) flags for \(raws.count) jobs")
            }
            return flags
        }

        /// Acknowledges everything claimed so far.
        public func finish(on redis: RedisConnection) throws(RedisError) {
            try redis.command("DEL", list)
        }

        /// After a failure: `failed` goes to the head of the queue, the claimed jobs not yet
        /// run back to its front, and the claim list is emptied, in one step.
        public func giveBack(failed: [UInt8], unstarted: [[UInt8]], on redis: RedisConnection) throws(RedisError) {
            try redis.evaluate(ReliableFetch.giveBackScript) { command in
                command.append(3)
                command.append(list)
                command.append(RedisKeys.queue(queue))
                command.append(RedisKeys.queues)
                command.append(queue)
                command.append(bytes: failed)
                for raw in unstarted { command.append(bytes: raw) }
            }
        }

        /// Drops the lease and, when nothing is held, the registry entry.
        public func release(on redis: RedisConnection) {
            let held = (try? redis.command("LLEN", list).int) ?? 1
            var commands = [RedisCommand(["DEL", ReliableFetch.alive(identity)])]
            if held == 0 { commands.append(RedisCommand(["HDEL", ReliableFetch.registry, list])) }
            _ = try? redis.pipeline(commands)
        }
    }
}
