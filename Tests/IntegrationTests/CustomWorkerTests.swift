import ConveyorPostgres
import ConveyorRedis
import Foundation
import Testing
import TestSupport

@Suite("An application's own worker (Examples/CustomWorker)")
struct CustomWorkerTests {
    @Test("its own job runs in its own worker executable, next to the built-in command line")
    func customJob() throws {
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "custom")
        let binary = TestEnvironment.productsDirectory.appendingPathComponent("CustomWorker").path
        let enqueue = try ProcessRunner.run(binary, ["enqueue", "Greet", #"["Ada"]"#], environment: ["REDIS_URL": redisURL])
        #expect(enqueue.status == 0, "\(enqueue.stderr)")
        let worker = try ConveyorProcess(["worker", "-q", "default"], redisURL: redisURL, databaseURL: databaseURL, binary: binary)
        #expect(try TestEnvironment.eventually {
            try db.query("SELECT to_regclass('greetings') IS NOT NULL AS present").first?["present"].bool() == true
                && db.query("SELECT count(*) AS n FROM greetings WHERE name = 'Ada'").first?["n"].int() == 1
        })
        #expect(worker.terminate() == 0)
        #expect(worker.log.contains("hello, Ada"))
        #expect(try redis.command("ZCARD", "retry").int == 0)
    }
}
