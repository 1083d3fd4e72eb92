import ConveyorJSON
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

/// Sidekiq 7.3/8.x execution metrics, Sidekiq 7/8 heartbeat fields, JSON logs and the health
/// probes, against the real `conveyor` binary, Redis and Ruby's Sidekiq.
@Suite("Observability")
struct ObservabilityTests {
    /// True once the worker has finished `count` jobs: the heartbeat flushes `stat:processed`
    /// after the jobs ran (every 5 s), unlike queue length, which drops when jobs are fetched.
    func finished(_ redis: RedisConnection, _ count: Int) throws -> Bool {
        try redis.command("GET", "stat:processed").int == count
    }

    @Test("after 12 no-op, 3 sleeping and 4 failing jobs, Sidekiq 7.3's and 8.x's metrics readers see exactly those counts, buckets and TTLs")
    func executionMetrics() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        for i in 0..<12 { _ = try client.enqueue("NoopJob", args: [JSONValue(i)]) }
        for _ in 0..<3 { _ = try client.enqueue("SleepJob", args: [60]) }
        for i in 0..<4 { _ = try client.enqueue("FailJob", args: [.string("boom \(i)")], retry: .disabled) }
        // An ActiveJob-style payload: Sidekiq counts it under `wrapped`, not under the class that runs it.
        for i in 0..<2 {
            var wrapped = JobPayload(className: "NoopJob", args: [JSONValue(100 + i)])
            wrapped.object["wrapped"] = "Reports::NightlyJob"
            try client.push(wrapped)
        }
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try finished(redis, 21) })
        // TERM: the last counts are flushed before the process exits.
        #expect(worker.terminate() == 0)

        let read = try ProcessRunner.ruby("sidekiq_metrics_query.rb", ["10", "NoopJob", "SleepJob", "FailJob", "Reports::NightlyJob"], redisURL: redisURL)
        #expect(read.status == 0, "\(read.stderr)")
        let view = try JSONValue.parse(read.stdout)
        for (version, granularity) in [("v7", "minutely"), ("v8", "minutely"), ("v8", "hourly")] {
            let counters = try #require(view[version]?[granularity], "\(version) \(granularity): \(read.stdout)")
            let where_ = "\(version) \(granularity): \(counters)"
            #expect(counters["NoopJob"]?["p"]?.intValue == 12, "\(where_)")
            #expect(counters["NoopJob"]?["f"] == nil, "\(where_)")
            #expect((counters["NoopJob"]?["ms"]?.intValue ?? -1) >= 0, "\(where_)")
            #expect(counters["SleepJob"]?["p"]?.intValue == 3, "\(where_)")
            #expect((counters["SleepJob"]?["ms"]?.intValue ?? 0) >= 180, "\(where_)")
            #expect(counters["FailJob"]?["p"]?.intValue == 4, "\(where_)")
            #expect(counters["FailJob"]?["f"]?.intValue == 4, "\(where_)")
            #expect(counters["FailJob"]?["ms"] == nil, "failed runs add no time: \(where_)")
            #expect(counters["Reports::NightlyJob"]?["p"]?.intValue == 2, "wrapped jobs count under the wrapped class: \(where_)")
            #expect(counters.objectValue?.keys.sorted() == ["FailJob", "NoopJob", "Reports::NightlyJob", "SleepJob"], "\(where_)")
        }
        for version in ["v7", "v8"] {
            let histograms = try #require(view[version]?["histograms"])
            let noop = (histograms["NoopJob"]?.arrayValue ?? []).compactMap(\.intValue)
            let sleep = (histograms["SleepJob"]?.arrayValue ?? []).compactMap(\.intValue)
            let fail = (histograms["FailJob"]?.arrayValue ?? []).compactMap(\.intValue)
            #expect(noop.count == 26 && sleep.count == 26 && fail.count == 26, "\(version): \(histograms)")
            #expect(noop.reduce(0, +) == 12, "\(version): \(noop)")
            #expect(sleep.reduce(0, +) == 3, "\(version): \(sleep)")
            #expect(sleep.prefix(3).allSatisfy { $0 == 0 }, "60 ms sleeps are at least bucket 3 (45–65 ms): \(sleep)")
            #expect(fail.allSatisfy { $0 == 0 }, "failures have no histogram: \(fail)")
        }
        // TTLs as Sidekiq sets them: 8 h for minute counters and histograms, 3 days for 8.x's 10-minute counters.
        let ttls = try #require(view["ttls"]?.objectValue)
        #expect(ttls.count >= 7, "\(ttls)")  // 3 counter hashes and 2 × 2 histograms, more across a minute boundary
        for (key, ttl) in ttls {
            let tenMinute = key.hasPrefix("j|") && key.split(separator: "|")[1].count == 6 && (key.split(separator: ":").last?.count ?? 0) == 1
            let limit = tenMinute ? 259_200 : 28_800
            #expect((limit - 300...limit).contains(ttl.intValue ?? 0), "\(key): TTL \(ttl), expected about \(limit)")
        }
        #expect(ttls.keys.contains { $0.hasPrefix("h|NoopJob-") } && ttls.keys.contains { $0.hasPrefix("NoopJob-") })
    }

    @Test("--no-sidekiq-metrics writes no metrics keys")
    func metricsOff() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        for _ in 0..<5 { _ = try client.enqueue("NoopJob") }
        let worker = try ConveyorProcess(["worker", "-c", "1", "-q", "default", "--no-sidekiq-metrics"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try finished(redis, 5) })
        #expect(worker.terminate() == 0)
        let keys = try redis.command("KEYS", "*").strings
        #expect(keys.contains("stat:processed"), "\(keys)")
        #expect(!keys.contains { $0.hasPrefix("j|") || $0.hasPrefix("h|") || $0.hasPrefix("NoopJob-") }, "\(keys)")
    }

    @Test("Sidekiq 6.4's API reads every process field beside Sidekiq 7/8's weights, version, embedded and capsules")
    func processFields() throws {
        let (_, redisURL) = try TestEnvironment.isolatedRedis()
        let worker = try ConveyorProcess(["worker", "-c", "3", "-q", "critical,3", "-q", "default,1", "--tag", "obs"], redisURL: redisURL)
        var view: JSONValue = nil
        #expect(try TestEnvironment.eventually {
            let read = try ProcessRunner.ruby("sidekiq_peer.rb", ["process_fields"], redisURL: redisURL)
            guard read.status == 0 else { return false }
            view = try JSONValue.parse(read.stdout)
            return view["processes"]?.arrayValue?.count == 1
        })
        let process = try #require(view["processes"]?[0])
        #expect(process["hostname"]?.stringValue?.isEmpty == false)
        #expect(abs((process["started_at"]?.doubleValue ?? 0) - Date().timeIntervalSince1970) < 120)
        #expect(process["pid"]?.intValue == Int(worker.child.pid))
        #expect(process["tag"] == "obs")
        #expect(process["concurrency"]?.intValue == 3)
        #expect(process["queues"] == ["critical", "default"])
        #expect(process["labels"] == [] && process["labels_method"] == [])
        #expect(process["identity"]?.stringValue?.hasPrefix("\(process["hostname"]?.stringValue ?? "?"):\(worker.child.pid):") == true)
        #expect(process["busy"]?.intValue == 0)
        #expect(abs((process["beat"]?.doubleValue ?? 0) - Date().timeIntervalSince1970) < 60)
        #expect(process["quiet"] == "false")
        #expect((process["rss"]?.intValue ?? 0) > 0)
        #expect((process["rtt_us"]?.intValue ?? -1) >= 0)
        #expect(process["version"]?.stringValue?.hasPrefix("conveyor ") == true)
        #expect(process["weights"] == [["critical": 3, "default": 1]])
        #expect(process["embedded"] == false)
        #expect(process["capsules"] == ["default": ["concurrency": 3, "mode": "weighted", "weights": ["critical": 3, "default": 1]]])
        #expect(process["stopping"] == false)
        #expect(view["total_concurrency"]?.intValue == 3)
        #expect((view["total_rss"]?.intValue ?? 0) > 0)
        #expect(worker.terminate() == 0)
    }

    @Test("--log-format json: every line is one JSON object; job lines carry jid, class, queue and elapsed under ctx")
    func jsonLogs() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let client = QueueClient(redis: redis)
        let jids = try (0..<3).map { _ in try client.enqueue("NoopJob") }
        let failed = try client.enqueue("FailJob", args: ["kaput"], retry: .disabled)
        let worker = try ConveyorProcess(["worker", "-c", "1", "-q", "default", "--log-format", "json"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(60)) { try finished(redis, 4) })
        #expect(worker.terminate() == 0)
        let lines = worker.log.split(separator: "\n").map(String.init)
        #expect(lines.count >= 6, "\(worker.log)")
        var done: [String: JSONValue] = [:]
        var failures: [JSONValue] = []
        for line in lines {
            guard let entry = try? JSONValue.parse(line), entry.objectValue != nil else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            #expect(entry["ts"]?.stringValue?.hasSuffix("Z") == true && entry["pid"]?.intValue == Int(worker.child.pid), "\(line)")
            #expect(entry["tid"]?.stringValue != nil && entry["lvl"]?.stringValue != nil && entry["msg"]?.stringValue != nil, "\(line)")
            if entry["msg"] == "done", let jid = entry["ctx"]?["jid"]?.stringValue { done[jid] = entry }
            if entry["msg"] == "fail" { failures.append(entry) }
        }
        #expect(Set(done.keys) == Set(jids), "\(worker.log)")
        for entry in done.values {
            #expect(entry["ctx"]?["class"] == "NoopJob" && entry["ctx"]?["queue"] == "default")
            #expect(entry["ctx"]?["elapsed"]?.doubleValue != nil, "elapsed is a number: \(entry)")
        }
        let failure = try #require(failures.first)
        #expect(failure["lvl"] == "WARN")
        #expect(failure["ctx"]?["jid"]?.stringValue == failed && failure["ctx"]?["class"] == "FailJob")
        #expect(failure["ctx"]?["error_class"] == "FailJob::Failure" && failure["ctx"]?["error"] == "kaput")
    }

    /// The status code of GET url, or 0 when nothing answered.
    func status(_ url: String) throws -> Int {
        let output = try ProcessRunner.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url])
        return Int(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test("/healthz and /readyz: ready once registered, not ready when quieted, unhealthy while Redis is down and healthy again after")
    func probes() throws {
        let server = try PrivateRedisServer()
        let port = try PrivateRedisServer.freePort()
        let worker = try ConveyorProcess(
            ["worker", "-c", "1", "-q", "default", "--metrics-port", String(port)], redisURL: server.url,
            extraEnvironment: ["CONVEYOR_LOG_FORMAT": "json"])
        let healthz = "http://127.0.0.1:\(port)/healthz", readyz = "http://127.0.0.1:\(port)/readyz"
        #expect(try TestEnvironment.eventually { try status(readyz) == 200 }, "\(worker.log)")
        #expect(try status(healthz) == 200)

        // What the Kubernetes preStop hook runs (no shell in the image).
        let quietCommand = try ProcessRunner.conveyor(["quiet", "--pid", String(worker.child.pid), "--wait", "0.2"], redisURL: server.url)
        #expect(quietCommand.status == 0, "\(quietCommand.stderr)")
        let missing = try ProcessRunner.conveyor(["quiet", "--pid", "999999999"], redisURL: server.url)
        #expect(missing.status != 0 && missing.stderr.contains("cannot signal process 999999999"))
        #expect(try TestEnvironment.eventually { try status(readyz) == 503 }, "quiet must fail readiness")
        #expect(try status(healthz) == 200, "a quiet worker is still alive")

        server.stop()
        #expect(try TestEnvironment.eventually { try status(healthz) == 503 }, "Redis is down")
        #expect(try status(readyz) == 503)
        try server.start()
        #expect(try TestEnvironment.eventually { try status(healthz) == 200 }, "Redis is back")
        #expect(worker.terminate() == 0)
        // CONVEYOR_LOG_FORMAT=json applies as --log-format json does.
        let quiet = worker.log.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.first { $0["msg"] == "quiet: no longer accepting new work" }
        #expect(quiet?["lvl"] == "NOTICE", "\(worker.log)")
    }
}
