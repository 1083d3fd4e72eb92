import ConveyorJSON
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("Operations drills")
struct OperationsTests {
    func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        // A zombie (exited, not yet reaped) is not alive.
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
    }

    func workerPIDs(_ redis: RedisConnection) throws -> [Int] {
        try QueueAPI(redis: redis).processes().map(\.pid).sorted()
    }

    func recorded(_ db: PostgresConnection) throws -> Int {
        guard try db.query("SELECT to_regclass('conveyor_records') IS NOT NULL AS present").first?["present"].bool() == true else { return 0 }
        return try db.query("SELECT count(*) AS n FROM conveyor_records").first?["n"].int() ?? 0
    }

    @Test("--processes 2: a child that dies is restarted; TSTP quiets all; TERM stops all and exits 0; a killed supervisor leaves no orphans")
    func supervisor() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let supervisor = try ConveyorProcess(["worker", "--processes", "2", "-c", "2", "-q", "default", "--timeout", "2"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try workerPIDs(redis).count == 2 })
        let first = try workerPIDs(redis)
        kill(pid_t(first[0]), SIGKILL)
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) {
            let pids = try workerPIDs(redis).filter { isAlive(pid_t($0)) }
            return pids.count == 2 && !pids.contains(first[0])
        }, "the killed child was not replaced:\n\(supervisor.log)")
        #expect(supervisor.log.contains("exited with status 137; restarting"))
        let children = try workerPIDs(redis).filter { isAlive(pid_t($0)) }

        supervisor.child.signal(SIGTSTP)
        #expect(try TestEnvironment.eventually(timeout: .seconds(20)) { try QueueAPI(redis: redis).processes().filter { $0.quiet }.count >= 2 })
        #expect(supervisor.terminate(timeout: .seconds(30)) == 0)
        #expect(children.allSatisfy { !isAlive(pid_t($0)) })
        // The stopped children deregistered (only the kill -9'd one lingers until its TTL).
        #expect(try workerPIDs(redis).allSatisfy { !children.contains($0) })

        // kill -9 of the supervisor: the kernel stops its children (parent-death signal).
        let again = try ConveyorProcess(["worker", "--processes", "2", "-c", "1", "-q", "default", "--timeout", "2"], redisURL: redisURL)
        #expect(try TestEnvironment.eventually { try workerPIDs(redis).filter { isAlive(pid_t($0)) }.count == 2 })
        let orphans = try workerPIDs(redis).filter { isAlive(pid_t($0)) }
        again.kill9()
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) { orphans.allSatisfy { !isAlive(pid_t($0)) } }, "orphaned worker processes are still running")
    }

    @Test("Sentinel failover during thousands of RecordJobs: nothing lost, the worker continues on the new master")
    func sentinelFailover() throws {
        let master = try PrivateRedisServer()
        let replica = try PrivateRedisServer(extraArguments: ["--replicaof", "127.0.0.1", String(master.port)])
        let sentinelConfiguration = """
            sentinel monitor mymaster 127.0.0.1 \(master.port) 2
            sentinel down-after-milliseconds mymaster 1000
            sentinel failover-timeout mymaster 5000
            sentinel parallel-syncs mymaster 1
            """
        let sentinels = try (0..<3).map { _ in try PrivateRedisServer(extraArguments: ["--sentinel"], configuration: sentinelConfiguration) }
        let sentinel = try RedisConnection(url: sentinels[0].url)
        #expect(try TestEnvironment.eventually(timeout: .seconds(30)) {
            try sentinel.command("SENTINEL", "replicas", "mymaster").array?.isEmpty == false
        })
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "sentinel")
        try RecordJob.createTable(db)
        let redis = try RedisConnection(url: master.url)
        let total = 5000
        try QueueClient(redis: redis).pushBulk((0..<total).map { JobPayload(className: "RecordJob", args: [.string("s-\($0)")]) })
        #expect(try redis.command("WAIT", 1, 5000).int == 1, "the replica did not catch up")

        let environment = ["REDIS_SENTINELS": sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ","), "REDIS_SENTINEL_MASTER": "mymaster"]
        let worker = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: "redis://127.0.0.1:1/0", databaseURL: databaseURL, extraEnvironment: environment)
        #expect(try TestEnvironment.eventually { try recorded(db) >= total / 5 })
        master.kill()
        let complete = try TestEnvironment.eventually(timeout: .seconds(120)) { try recorded(db) == total }
        let done = try recorded(db)
        #expect(complete, "only \(done) of \(total) recorded after the failover:\n\(worker.log.suffix(2000))")
        #expect(worker.child.isRunning, "the worker crashed")
        let promoted = try RedisConnection(url: replica.url)
        #expect(try promoted.command("ROLE").array?.first?.string == "master")
        #expect(try promoted.command("LLEN", "queue:default").int == 0)
        #expect(worker.log.contains("is back"))
        #expect(worker.terminate() == 0)
        let runs = try db.query("SELECT coalesce(sum(runs), 0) AS n FROM conveyor_records").first?["n"].int() ?? 0
        print("sentinel failover drill: \(total) jobs, 0 lost, \(runs - total) duplicate executions")
    }

    @Test("PostgreSQL restarting during RecordJobs: no crash, no job lost (failed ones are retried)")
    func postgresRestartDuringJobs() throws {
        let server = try PrivatePostgresServer()
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let db = try PostgresConnection(connectionString: server.url)
        try RecordJob.createTable(db)
        let total = 3000
        try QueueClient(redis: redis).pushBulk((0..<total).map { JobPayload(className: "RecordJob", args: [.string("p-\($0)")]) })
        let worker = try ConveyorProcess(["worker", "-c", "4", "-q", "default"], redisURL: redisURL, databaseURL: server.url)
        #expect(try TestEnvironment.eventually { try recorded(db) >= 300 })
        try server.restart(downFor: 1)
        // Jobs that hit the restart fail and are retried about 15-25 s later.
        let complete = try TestEnvironment.eventually(timeout: .seconds(150)) {
            try (try? recorded(db)) == total && (redis.command("ZCARD", "retry").int ?? 1) == 0
        }
        let done = (try? recorded(db)) ?? -1
        #expect(complete, "only \(done) of \(total) recorded")
        #expect(worker.child.isRunning, "the worker crashed")
        #expect(try redis.command("ZCARD", "dead").int == 0)
        #expect(worker.terminate() == 0)
    }

    @Test("worker --metrics-port serves the process's own Prometheus metrics")
    func workerMetrics() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let port = try PrivateRedisServer.freePort()
        let worker = try ConveyorProcess(["worker", "-c", "2", "-q", "default", "--metrics-port", String(port)], redisURL: redisURL)
        let client = QueueClient(redis: redis)
        try client.enqueue("NoopJob")
        try client.enqueue("NoopJob")
        try client.enqueue("FailJob", retry: .disabled)
        var text = ""
        #expect(TestEnvironment.eventually(timeout: .seconds(30)) {
            text = (try? ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/metrics"]).stdout) ?? ""
            return text.contains("conveyor_worker_jobs_total{queue=\"default\",outcome=\"failed\"} 1")
        }, "metrics were:\n\(text)")
        #expect(text.contains("conveyor_worker_jobs_total{queue=\"default\",outcome=\"succeeded\"} 2"))
        #expect(text.contains("conveyor_worker_job_duration_seconds_bucket"))
        #expect(text.contains("conveyor_worker_concurrency 2"))
        #expect(worker.terminate() == 0)
    }

    @Test("deploy recipes: Kubernetes manifests validate, systemd units verify, the Procfile names both processes")
    func deployRecipes() throws {
        let root = TestEnvironment.repositoryRoot
        let kubernetes = root.appendingPathComponent("deploy/kubernetes")
        for name in ["worker-deployment.yaml", "web.yaml", "secret.example.yaml"] {
            let output = try ProcessRunner.run(
                "python3", ["-m", "kubernetes_validate", "--strict", kubernetes.appendingPathComponent(name).path],
                environment: ["PYTHONPATH": TestEnvironment.pythonLibraryPath])
            #expect(output.status == 0, "\(name): \(output.stdout)\(output.stderr)")
            #expect(output.stdout.contains("passed"), "\(name): \(output.stdout)")
        }
        let keda = try String(contentsOf: kubernetes.appendingPathComponent("keda-scaledobject.yaml"), encoding: .utf8)
        for required in ["kind: ScaledObject", "name: conveyor-worker", "type: redis", "listName: queue:default", "addressFromEnv: REDIS_ADDRESS"] {
            #expect(keda.contains(required), "keda-scaledobject.yaml lacks \(required)")
        }
        let worker = try String(contentsOf: kubernetes.appendingPathComponent("worker-deployment.yaml"), encoding: .utf8)
        #expect(worker.contains("terminationGracePeriodSeconds: 45") && worker.contains("\"--timeout\", \"25\""))
        #expect(worker.contains("preStop") && worker.contains("\"quiet\", \"--pid\", \"1\""), "the worker is quieted before TERM")
        // The image (scripts/build-image) has no shell: a hook needing one would fail.
        #expect(!worker.contains("/bin/sh"), "worker-deployment.yaml runs a shell, which the image does not have")
        #expect(worker.contains("path: /healthz") && worker.contains("path: /readyz"), "the worker's probes use the health endpoints")
        let web = try String(contentsOf: kubernetes.appendingPathComponent("web.yaml"), encoding: .utf8)
        #expect(web.contains("path: /healthz") && web.contains("path: /readyz"), "the web's probes use the health endpoints")

        // systemd: verify with ExecStart pointing at the built binary (verify checks it exists).
        let units = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-units-\(getpid())")
        try FileManager.default.createDirectory(at: units, withIntermediateDirectories: true)
        for name in ["conveyor-worker@.service", "conveyor-web.service"] {
            let text = try String(contentsOf: root.appendingPathComponent("deploy/systemd/\(name)"), encoding: .utf8)
            #expect(text.contains("KillSignal=SIGTERM"))
            try text.replacingOccurrences(of: "/usr/local/bin/conveyor", with: TestEnvironment.conveyorBinary)
                .write(to: units.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let workerUnit = try String(contentsOf: root.appendingPathComponent("deploy/systemd/conveyor-worker@.service"), encoding: .utf8)
        #expect(workerUnit.contains("TimeoutStopSec=45") && workerUnit.contains("--timeout 25"), "TimeoutStopSec must exceed the worker timeout")
        let verify = try ProcessRunner.run("systemd-analyze", ["verify", units.appendingPathComponent("conveyor-worker@1.service").path, units.appendingPathComponent("conveyor-web.service").path])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "systemd-analyze complained: \(verify.stderr)")
        let procfile = try String(contentsOf: root.appendingPathComponent("Procfile"), encoding: .utf8)
        #expect(procfile.contains("worker: conveyor worker") && procfile.contains("web: conveyor web"))
    }
}
