import ConveyorPostgres
import Foundation

/// Tables keyed by something other than one integer column, for cursor and loose index
/// scan batching. Each has a trigger counting the UPDATEs of every row in `updates`, and
/// target columns `a` and `b` a copy job fills (one migration by workers, one by finalize).
public enum CursorFixtures {
    static func countingUpdates(_ table: String) -> String {
        """
        CREATE OR REPLACE FUNCTION count_updates() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN NEW.updates := OLD.updates + 1; RETURN NEW; END $$;
        CREATE TRIGGER count_updates BEFORE UPDATE ON \(table) FOR EACH ROW EXECUTE FUNCTION count_updates();
        """
    }

    /// `table(partition_id int, id bigint, n bigint, a bigint, b bigint, updates int)`, primary key
    /// `(partition_id, id)`: row `g` lives in partition `g % partitions + 1`, so walking
    /// the tuple's order interleaves the ids.
    /// Autovacuum is off for the table: the migration's health check holds it for 10 minutes
    /// while autovacuum runs on it (GitLab's rule), which a million updated rows can set off
    /// mid-test (seen once in a fresh-clone `scripts/test` run: a 300 s timeout at 52.5 %).
    public static func createPartitioned(_ db: PostgresConnection, table: String = "pevents", rows: Int, partitions: Int = 16) throws {
        try db.execute("""
            CREATE TABLE \(table) (partition_id integer NOT NULL, id bigint NOT NULL, n bigint NOT NULL,
              a bigint NOT NULL DEFAULT 0, b bigint NOT NULL DEFAULT 0, updates integer NOT NULL DEFAULT 0,
              PRIMARY KEY (partition_id, id)) WITH (autovacuum_enabled = false);
            \(countingUpdates(table))
            INSERT INTO \(table) (partition_id, id, n) SELECT g % \(partitions) + 1, g, g * 3 FROM generate_series(1, \(rows)) g;
            ANALYZE \(table);
            """)
    }

    /// `table(id uuid PRIMARY KEY, n, a, b, updates)`.
    public static func createUUIDKeyed(_ db: PostgresConnection, table: String = "docs", rows: Int) throws {
        try db.execute("""
            CREATE TABLE \(table) (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n bigint NOT NULL,
              a bigint NOT NULL DEFAULT 0, b bigint NOT NULL DEFAULT 0, updates integer NOT NULL DEFAULT 0);
            \(countingUpdates(table))
            INSERT INTO \(table) (n) SELECT g FROM generate_series(1, \(rows)) g;
            ANALYZE \(table);
            """)
    }

    /// `table(name text PRIMARY KEY, n, a, b, updates)`: names with spaces, quotes,
    /// accents and digits that sort differently as text than as numbers.
    public static func createTextKeyed(_ db: PostgresConnection, table: String = "tags", rows: Int) throws {
        try db.execute("""
            CREATE TABLE \(table) (name text PRIMARY KEY, n bigint NOT NULL,
              a bigint NOT NULL DEFAULT 0, b bigint NOT NULL DEFAULT 0, updates integer NOT NULL DEFAULT 0);
            \(countingUpdates(table))
            INSERT INTO \(table) (name, n)
              SELECT (ARRAY['tag ', 'Étiquette ''', 'a"b ', '名前 '])[g % 4 + 1] || g || ' ' || md5(g::text), g FROM generate_series(1, \(rows)) g;
            ANALYZE \(table);
            """)
    }

    /// `table(id serial PRIMARY KEY, project_id int, n, a, b, updates)` with `projects`
    /// distinct project ids spread over the rows, and an index on `project_id`.
    public static func createIssues(_ db: PostgresConnection, table: String = "issues", rows: Int, projects: Int) throws {
        try db.execute("""
            CREATE TABLE \(table) (id serial PRIMARY KEY, project_id integer NOT NULL, n bigint NOT NULL,
              a bigint NOT NULL DEFAULT 0, b bigint NOT NULL DEFAULT 0, updates integer NOT NULL DEFAULT 0);
            \(countingUpdates(table))
            INSERT INTO \(table) (project_id, n) SELECT (g * 7919) % \(projects) + 1, g FROM generate_series(1, \(rows)) g;
            CREATE INDEX \(table)_project_id ON \(table) (project_id);
            ANALYZE \(table);
            """)
    }

    public struct State: Sendable, Equatable, CustomStringConvertible {
        public var rows: Int
        /// Rows where the target column differs from the source.
        public var wrong: Int
        /// Rows not updated exactly `updates` times.
        public var notExactly: Int

        public init(rows: Int, wrong: Int, notExactly: Int) {
            self.rows = rows
            self.wrong = wrong
            self.notExactly = notExactly
        }

        public var description: String { "\(rows) rows, \(wrong) wrong, \(notExactly) not updated the expected number of times" }
    }

    /// How far `target = source` holds, and whether every row was updated `updates` times.
    public static func state(_ db: PostgresConnection, table: String, source: String, target: String, updates: Int) throws -> State {
        let row = try db.query(PostgresQuery(unsafeSQL: """
            SELECT count(*) AS rows, count(*) FILTER (WHERE \(target) <> \(source)) AS wrong,
                   count(*) FILTER (WHERE updates <> \(updates)) AS off FROM \(table)
            """))[0]
        return State(rows: try row["rows"].int(), wrong: try row["wrong"].int(), notExactly: try row["off"].int())
    }

    /// Rows of `table` counted once per job whose cursor range holds them: equal to the
    /// table's row count exactly when the jobs' ranges cover every row once (no gap, no
    /// overlap). `columns` and `types` describe the cursor.
    public static func rowsCoveredByJobs(_ db: PostgresConnection, table: String, migration: Int64, columns: [String], types: [String]) throws -> Int {
        let row = "(" + columns.map { "t.\($0)" }.joined(separator: ", ") + ")"
        func bound(_ field: String) -> String {
            "(" + types.enumerated().map { "(j.\(field)->>\($0.offset))::\($0.element)" }.joined(separator: ", ") + ")"
        }
        return try db.query(PostgresQuery(unsafeSQL: """
            SELECT coalesce(sum((SELECT count(*) FROM \(table) t WHERE \(row) >= \(bound("min_cursor")) AND \(row) <= \(bound("max_cursor")))), 0)::bigint AS n
            FROM batched_background_migration_jobs j WHERE j.batched_background_migration_id = \(migration)
            """))[0]["n"].int()
    }
}
