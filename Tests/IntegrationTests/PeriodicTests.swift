import ConveyorJSON
import ConveyorPlatform
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// Periodic jobs across real `conveyor worker --schedule` processes and one Redis.
@Suite("Periodic jobs (conveyor worker --schedule)")
struct PeriodicTests {
    static let everySecond = """
        tick:
          cron: "* * * * * *"
          class: NoopJob
          queue: periodic
          date_as_argument: true
          description: every second
        """

    func writeSchedule(_ text: String) throws -> String {
        let path = ProcessRunner.temporaryFile("schedule.yml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Workers that run the schedule but serve another queue, so the ticks' jobs stay in
    /// `queue:periodic` to be counted.
    func workers(_ count: Int, schedule: String, redisURL: String) throws -> [ConveyorProcess] {
        try (0..<count).map { _ in
            try ConveyorProcess(["worker", "-c", "1", "-q", "elsewhere", "--no-scheduler", "--schedule", schedule], redisURL: redisURL)
        }
    }

    /// The tick (the appended date argument) of every queued job, oldest first.
    func ticks(_ redis: RedisConnection) throws -> [Int64] {
        try redis.command("LRANGE", "queue:periodic", 0, -1).strings.reversed().compactMap { text in
            guard case .array(let args)? = (try? JSONValue.parse(text))?["args"], let last = args.last?.doubleValue else { return nil }
            return Int64(last)
        }
    }

    func started(_ processes: [ConveyorProcess]) -> Bool {
        TestEnvironment.eventually(timeout: .seconds(60)) { processes.allSatisfy { $0.log.contains("periodic jobs scheduled") } }
    }

    /// The last tick a worker's log says it enqueued.
    func lastEnqueued(_ process: ConveyorProcess) -> Int64? {
        process.log.split(separator: "\n").filter { $0.contains("periodic job enqueued") }.compactMap { line -> Int64? in
            guard let range = line.range(of: "tick=") else { return nil }
            return Int64(line[range.upperBound...].prefix { $0.isNumber })
        }.max()
    }

    @Test("three processes running an every-second schedule for 20 s enqueue it 20 ± 1 times, never twice in one tick")
    func threeProcesses() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let processes = try workers(3, schedule: try writeSchedule(Self.everySecond), redisURL: redisURL)
        #expect(started(processes), "\(processes.map(\.log))")
        Thread.sleep(forTimeInterval: 2)
        let before = try redis.command("LLEN", "queue:periodic").int ?? 0
        Thread.sleep(forTimeInterval: 20)
        let after = try redis.command("LLEN", "queue:periodic").int ?? 0
        let all = try ticks(redis)
        #expect((19...21).contains(after - before), "enqueued \(after - before) times in 20 s")
        #expect(Set(all).count == all.count, "a tick was enqueued twice: \(all)")
        #expect(all == all.sorted(), "ticks out of order: \(all)")
        let enqueuers = processes.filter { lastEnqueued($0) != nil }.count
        #expect(enqueuers >= 1)
        for process in processes { #expect(process.terminate() == 0) }
        #expect(!processes.contains { $0.log.contains("ERROR") }, "\(processes.map(\.log))")
    }

    @Test("killing whichever process enqueued the last tick does not skip the next")
    func killTheEnqueuer() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        var processes = try workers(3, schedule: try writeSchedule(Self.everySecond), redisURL: redisURL)
        #expect(started(processes), "\(processes.map(\.log))")
        for _ in 0..<2 {
            #expect(TestEnvironment.eventually(timeout: .seconds(10)) { processes.contains { lastEnqueued($0) != nil } })
            let latest = processes.max { (lastEnqueued($0) ?? 0) < (lastEnqueued($1) ?? 0) }!
            let killedTick = try #require(lastEnqueued(latest))
            latest.kill9()
            processes.removeAll { $0 === latest }
            // The next ticks are enqueued by the survivors, none skipped.
            #expect(try TestEnvironment.eventually(timeout: .seconds(10)) { try ticks(redis).contains(killedTick + 3) })
            let seen = Set(try ticks(redis))
            #expect((killedTick...(killedTick + 3)).allSatisfy(seen.contains), "a tick after the kill was skipped: \(seen.sorted().suffix(8))")
        }
        let all = try ticks(redis)
        #expect(Set(all).count == all.count, "a tick was enqueued twice")
        for process in processes { #expect(process.terminate() == 0) }
    }

    @Test("pause and resume from the CLI stop and restart the ticks in every process")
    func pauseAndResume() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let processes = try workers(3, schedule: try writeSchedule(Self.everySecond), redisURL: redisURL)
        #expect(started(processes), "\(processes.map(\.log))")
        #expect(try TestEnvironment.eventually(timeout: .seconds(10)) { try ticks(redis).count >= 2 })

        let pause = try ProcessRunner.conveyor(["cron", "pause", "tick"], redisURL: redisURL)
        #expect(pause.status == 0 && pause.stdout.contains("paused tick"), "\(pause.stderr)")
        Thread.sleep(forTimeInterval: 1.5)  // a claim in flight finishes
        let paused = try redis.command("LLEN", "queue:periodic").int ?? 0
        Thread.sleep(forTimeInterval: 4)
        #expect(try redis.command("LLEN", "queue:periodic").int == paused, "a paused entry was enqueued")
        let list = try ProcessRunner.conveyor(["cron", "list", "--json"], redisURL: redisURL)
        let listed = try JSONValue.parse(list.stdout)
        #expect(listed[0]?["state"] == "paused", "\(list.stdout)")
        #expect((listed[0]?["skipped"]?["paused"]?.intValue ?? 0) >= 3, "\(list.stdout)")

        let resume = try ProcessRunner.conveyor(["cron", "resume", "tick"], redisURL: redisURL)
        #expect(resume.status == 0, "\(resume.stderr)")
        #expect(try TestEnvironment.eventually(timeout: .seconds(5)) { try redis.command("LLEN", "queue:periodic").int ?? 0 >= paused + 3 })
        let all = try ticks(redis)
        #expect(Set(all).count == all.count)
        let unknown = try ProcessRunner.conveyor(["cron", "pause", "nope"], redisURL: redisURL)
        #expect(unknown.status == 1 && unknown.stderr.contains("no periodic entry named 'nope'"))
        for process in processes { #expect(process.terminate() == 0) }
    }

    @Test("after downtime a missed tick is enqueued once, not once per missed minute")
    func catchUp() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let schedule = try writeSchedule("minutely:\n  cron: \"* * * * *\"\n  class: NoopJob\n  queue: periodic\n  date_as_argument: true\n")
        let now = Int64(try redis.command("TIME").array?.first?.string ?? "0")!
        let lastMinute = now - now % 60
        try redis.command("HSET", PeriodicStore.state("minutely"), "last_tick", String(lastMinute - 600))  // ten minutes down
        let processes = try workers(2, schedule: schedule, redisURL: redisURL)
        #expect(started(processes))
        #expect(try TestEnvironment.eventually(timeout: .seconds(10)) { try !ticks(redis).isEmpty })
        Thread.sleep(forTimeInterval: 2)
        let all = try ticks(redis)
        let first = try #require(all.first)
        // The latest due minute (the next one, if a minute began while the workers started).
        #expect(first == lastMinute || first == lastMinute + 60, "\(all)")
        #expect(all.count == 1 || (all.count == 2 && all[1] == first + 60), "catch-up enqueued \(all)")
        let status = try #require(try PeriodicStatus.all(on: redis, now: Double(now)).first)
        #expect(status.missed == Int(first - (lastMinute - 600)) / 60 - 1)
        for process in processes { #expect(process.terminate() == 0) }
    }

    @Test("a bad schedule is refused at start, one line per entry; a bad edit later keeps the worker running")
    func badInput() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let bad = try writeSchedule("""
            report:
              cron: "0 25 * * *"
              class: NoopJob
            other:
              cron: "@daily"
              class: NoSuchJob
            extra:
              cron: "@daily"
              class: NoopJob
              colour: blue
            unique:
              cron: "@daily"
              class: NoopJob
              unique_for: -1
            """)
        let refused = try ProcessRunner.conveyor(["worker", "--schedule", bad], redisURL: redisURL, timeout: .seconds(30))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\(bad):2: entry 'report': cron \"0 25 * * *\": hour 25 is out of range (0-23)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\(bad):6: entry 'other': class 'NoSuchJob' is not registered in this worker"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\(bad):10: entry 'extra': unknown key 'colour'"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\(bad):14: entry 'unique': unique_for must be a positive number"), "\(refused.stderr)")
        let check = try ProcessRunner.conveyor(["cron", "check", bad], redisURL: redisURL)
        #expect(check.status == 1 && check.stderr.contains("entry 'report'"), "\(check.stderr)")

        let path = try writeSchedule(Self.everySecond)
        let worker = try workers(1, schedule: path, redisURL: redisURL)[0]
        #expect(started([worker]))
        #expect(try TestEnvironment.eventually(timeout: .seconds(10)) { try ticks(redis).count >= 2 })
        // An edit with one bad entry and one new good one: the good one is applied, the bad one
        // keeps its previous definition, and the worker keeps running.
        try (Self.everySecond.replacingOccurrences(of: "\"* * * * * *\"", with: "\"* 99 * * * *\"") + """

            second:
              cron: "*/2 * * * * *"
              class: NoopJob
              queue: second
            """).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(TestEnvironment.eventually(timeout: .seconds(15)) { worker.log.contains("schedule reloaded") }, "\(worker.log)")
        #expect(worker.log.contains("entry 'tick'") && worker.log.contains("out of range"), "\(worker.log)")
        #expect(try TestEnvironment.eventually(timeout: .seconds(10)) { try redis.command("LLEN", "queue:second").int ?? 0 >= 1 })
        let count = try ticks(redis).count
        #expect(try TestEnvironment.eventually(timeout: .seconds(5)) { try ticks(redis).count > count + 1 }, "the kept entry stopped")
        #expect(worker.child.isRunning)
        #expect(worker.terminate() == 0)
    }

    @Test("cron list, enqueue and the --help of the commands")
    func commands() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let schedule = try writeSchedule("nightly:\n  cron: \"0 3 * * * Europe/Berlin\"\n  class: NoopJob\n  args: [7]\n  description: the nightly one\n")
        let worker = try workers(1, schedule: schedule, redisURL: redisURL)[0]
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) { try redis.command("HEXISTS", PeriodicStore.entries, "nightly").int == 1 })
        let list = try ProcessRunner.conveyor(["cron", "list"], redisURL: redisURL)
        #expect(list.status == 0)
        #expect(list.stdout.contains("nightly") && list.stdout.contains("0 3 * * * Europe/Berlin") && list.stdout.contains("never") && list.stdout.contains("active"), "\(list.stdout)")
        let enqueue = try ProcessRunner.conveyor(["cron", "enqueue", "nightly"], redisURL: redisURL)
        #expect(enqueue.status == 0 && enqueue.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 24, "\(enqueue.stderr)")
        let queued = try redis.command("LRANGE", "queue:default", 0, -1).strings
        #expect(queued.count == 1 && queued[0].contains(enqueue.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) && queued[0].contains("\"args\":[7]"), "\(queued)")
        let json = try JSONValue.parse(try ProcessRunner.conveyor(["cron", "list", "--json"], redisURL: redisURL).stdout)
        #expect(json[0]?["next_run"]?.doubleValue ?? 0 > Date().timeIntervalSince1970)
        #expect(json[0]?["description"] == "the nightly one")
        for arguments in [["cron", "--help"], ["cron", "list", "--help"], ["cron", "pause", "--help"], ["worker", "--help"], ["enqueue", "--help"]] {
            let help = try ProcessRunner.conveyor(arguments, redisURL: redisURL)
            #expect(help.status == 0, "\(arguments)")
        }
        let cronHelp = try ProcessRunner.conveyor(["cron", "--help"], redisURL: redisURL).stdout
        #expect(cronHelp.contains("schedule.yml") && cronHelp.contains("pause") && cronHelp.contains("enqueue"))
        #expect(try ProcessRunner.conveyor(["worker", "--help"], redisURL: redisURL).stdout.contains("--schedule"))
        #expect(try ProcessRunner.conveyor(["enqueue", "--help"], redisURL: redisURL).stdout.contains("--unique-for"))
        #expect(worker.terminate() == 0)
    }
}
