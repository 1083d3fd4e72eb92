import ConveyorPlatform
import ConveyorPostgres
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `ConveyorBench upsert-loop THREADS COUNT`: the RecordJob upsert run by THREADS threads,
/// each on its own connection, with nothing else around it — what a thread-per-processor
/// worker could reach at best on this machine (the ceiling the real-job row is read against).
enum UpsertLoop {
    static func run(threads: Int, count: Int, url: String) throws {
        let setup = try PostgresConnection(connectionString: url)
        try setup.execute("DROP TABLE IF EXISTS conveyor_records; CREATE TABLE conveyor_records (key text PRIMARY KEY, runs int NOT NULL DEFAULT 0)")
        let next = Atomic<Int>(0)
        let group = ThreadGroup()
        let connections = try (0..<threads).map { _ in try PostgresConnection(connectionString: url) }
        let start = ContinuousClock.now
        for t in 0..<threads {
            nonisolated(unsafe) let db = connections[t]
            try group.spawn("upsert-\(t)") {
                while true {
                    let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if n >= count { return }
                    _ = try? db.queryPrepared("INSERT INTO conveyor_records (key, runs) VALUES (\("u-\(n)"), 1) ON CONFLICT (key) DO UPDATE SET runs = conveyor_records.runs + 1")
                }
            }
        }
        group.wait(timeout: .seconds(3600))
        let seconds = (ContinuousClock.now - start).seconds
        print("{\"threads\": \(threads), \"count\": \(count), \"per_second\": \(Int(Double(count) / seconds))}")
    }
}
