import ConveyorPostgres
import Foundation

/// Tables the migration tests work on.
public enum MigrationFixtures {
    /// `events(id serial, payload, id_convert_to_bigint bigint, updates int)` with `rows`
    /// rows; a trigger counts every UPDATE of a row in `updates`, so a test can prove each
    /// row was migrated exactly once.
    public static func createEvents(_ db: PostgresConnection, rows: Int, table: String = "events") throws {
        try db.execute("""
            CREATE TABLE \(table) (id serial PRIMARY KEY, payload text, id_convert_to_bigint bigint NOT NULL DEFAULT 0,
                                   updates integer NOT NULL DEFAULT 0);
            CREATE OR REPLACE FUNCTION count_updates() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN NEW.updates := OLD.updates + 1; RETURN NEW; END $$;
            CREATE TRIGGER count_updates BEFORE UPDATE ON \(table) FOR EACH ROW EXECUTE FUNCTION count_updates();
            INSERT INTO \(table) (payload) SELECT 'payload ' || g FROM generate_series(1, \(rows)) g;
            ANALYZE \(table);
            """)
    }

    public struct Copied: Sendable, Equatable {
        public var rows: Int
        public var wrong: Int
        public var notExactlyOnce: Int

        public init(rows: Int, wrong: Int, notExactlyOnce: Int) {
            self.rows = rows
            self.wrong = wrong
            self.notExactlyOnce = notExactlyOnce
        }
    }

    /// How many rows still differ, and how many were updated other than exactly once.
    public static func copyState(_ db: PostgresConnection, table: String = "events") throws -> Copied {
        let row = try db.query(PostgresQuery(unsafeSQL: """
            SELECT count(*) AS rows, count(*) FILTER (WHERE id <> id_convert_to_bigint) AS wrong,
                   count(*) FILTER (WHERE updates <> 1) AS not_once FROM \(table)
            """))[0]
        return Copied(rows: try row["rows"].int(), wrong: try row["wrong"].int(), notExactlyOnce: try row["not_once"].int())
    }

    /// Pairs of jobs of a migration whose key ranges overlap (must be 0).
    public static func overlappingJobs(_ db: PostgresConnection, migration: Int64) throws -> Int {
        try db.query("""
            SELECT count(*) AS n FROM batched_background_migration_jobs a JOIN batched_background_migration_jobs b
              ON a.batched_background_migration_id = b.batched_background_migration_id AND a.id < b.id
             AND a.min_value <= b.max_value AND b.min_value <= a.max_value
            WHERE a.batched_background_migration_id = \(migration)
            """)[0]["n"].int()
    }
}
