import ConveyorPostgres
import Testing
import TestSupport

@Suite("Prepared statements (queryPrepared)")
struct PreparedStatementTests {
    @Test("a statement is prepared once per session: later runs cost one round trip each")
    func preparedOnce() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE counters (key text PRIMARY KEY, runs int NOT NULL)")
        func upsert(_ key: String) throws {
            try db.queryPrepared("INSERT INTO counters (key, runs) VALUES (\(key), 1) ON CONFLICT (key) DO UPDATE SET runs = counters.runs + 1")
        }
        let start = db.roundTrips
        try upsert("a")
        #expect(db.roundTrips - start == 2, "prepare, then execute")
        try upsert("a")
        try upsert("b")
        #expect(db.roundTrips - start == 4, "executes only")
        let rows = try db.query("SELECT key, runs FROM counters ORDER BY key")
        #expect(try rows.map { try $0["key"].string() } == ["a", "b"])
        #expect(try rows.map { try $0["runs"].int() } == [2, 1])
    }

    @Test("a reconnect or a table that changed shape prepares the statement again")
    func preparedAgain() throws {
        let (db, _, _) = try TestEnvironment.isolatedPostgres()
        try db.execute("CREATE TABLE shapes (id int PRIMARY KEY, a text)")
        try db.query("INSERT INTO shapes VALUES (1, 'x')")
        let select = { () throws -> Int in try db.queryPrepared("SELECT * FROM shapes WHERE id = \(1)").columns.names.count }
        #expect(try select() == 2)
        try db.execute("ALTER TABLE shapes ADD COLUMN b text")
        #expect(try select() == 3, "the stale plan (0A000) was prepared again")
        let admin = try PostgresConnection(connectionString: try TestEnvironment.databaseURL)
        try admin.query("SELECT pg_terminate_backend(\(Int(db.backendPID)))")
        // The next query finds the session gone, unless its goodbye had already arrived
        // (then the session is replaced before the statement is sent).
        do { _ = try select() } catch { #expect((error as? PostgresError)?.isConnectionProblem == true, "\(error)") }
        #expect(try select() == 3, "after the session died, the statement is prepared on the new one")
        #expect(db.reconnectCount == 1)
    }
}
