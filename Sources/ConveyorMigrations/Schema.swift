import ConveyorPostgres

/// The GitLab-compatible tables, created and upgraded by versioned steps. Safe to run at
/// any time and from several processes at once (an advisory lock serialises them).
public enum Schema {
    /// Advisory lock key held while the schema is being changed.
    static let lockKey: Int64 = 0x436F_6E76_0001  // "Conv" + 1

    struct Step {
        let version: Int
        let sql: String
    }

    static let steps: [Step] = [
        Step(version: 1, sql: """
            CREATE TABLE IF NOT EXISTS batched_background_migrations (
              id bigserial PRIMARY KEY,
              created_at timestamptz NOT NULL DEFAULT now(),
              updated_at timestamptz NOT NULL DEFAULT now(),
              min_value bigint DEFAULT 1,
              max_value bigint,
              batch_size integer NOT NULL,
              sub_batch_size integer NOT NULL,
              "interval" integer NOT NULL,
              status smallint NOT NULL DEFAULT 0,
              job_class_name text NOT NULL CHECK (char_length(job_class_name) <= 100),
              batch_class_name text NOT NULL DEFAULT 'PrimaryKeyBatchingStrategy' CHECK (char_length(batch_class_name) <= 100),
              table_name text NOT NULL CHECK (char_length(table_name) <= 127),
              column_name text NOT NULL CHECK (char_length(column_name) <= 63),
              job_arguments jsonb NOT NULL DEFAULT '[]',
              total_tuple_count bigint,
              pause_ms integer NOT NULL DEFAULT 100 CHECK (pause_ms >= 0),
              max_batch_size integer,
              started_at timestamptz,
              on_hold_until timestamptz,
              finished_at timestamptz,
              CONSTRAINT check_positive_min_value CHECK (min_value > 0),
              CONSTRAINT check_max_value_in_range CHECK (max_value >= min_value),
              CONSTRAINT check_positive_sub_batch_size CHECK (sub_batch_size > 0),
              CONSTRAINT check_batch_size_in_range CHECK (batch_size >= sub_batch_size)
            );
            CREATE UNIQUE INDEX IF NOT EXISTS index_batched_migrations_on_unique_configuration
              ON batched_background_migrations (job_class_name, table_name, column_name, job_arguments);
            CREATE INDEX IF NOT EXISTS index_batched_background_migrations_on_status ON batched_background_migrations (status);

            CREATE TABLE IF NOT EXISTS batched_background_migration_jobs (
              id bigserial PRIMARY KEY,
              created_at timestamptz NOT NULL DEFAULT now(),
              updated_at timestamptz NOT NULL DEFAULT now(),
              started_at timestamptz,
              finished_at timestamptz,
              batched_background_migration_id bigint NOT NULL REFERENCES batched_background_migrations (id) ON DELETE CASCADE,
              min_value bigint,
              max_value bigint,
              batch_size integer NOT NULL,
              sub_batch_size integer NOT NULL,
              pause_ms integer NOT NULL DEFAULT 100,
              status smallint NOT NULL DEFAULT 0,
              attempts smallint NOT NULL DEFAULT 0,
              metrics jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX IF NOT EXISTS index_batched_jobs_by_batched_migration_id_and_id
              ON batched_background_migration_jobs (batched_background_migration_id, id);
            CREATE INDEX IF NOT EXISTS index_batched_jobs_on_batched_migration_id_and_status
              ON batched_background_migration_jobs (batched_background_migration_id, status);
            CREATE INDEX IF NOT EXISTS index_migration_jobs_on_migration_id_and_max_value
              ON batched_background_migration_jobs (batched_background_migration_id, max_value);
            CREATE INDEX IF NOT EXISTS index_migration_jobs_on_migration_id_and_finished_at
              ON batched_background_migration_jobs (batched_background_migration_id, finished_at);

            CREATE TABLE IF NOT EXISTS batched_background_migration_job_transition_logs (
              id bigserial PRIMARY KEY,
              batched_background_migration_job_id bigint NOT NULL REFERENCES batched_background_migration_jobs (id) ON DELETE CASCADE,
              created_at timestamptz NOT NULL DEFAULT now(),
              updated_at timestamptz NOT NULL DEFAULT now(),
              previous_status smallint NOT NULL,
              next_status smallint NOT NULL,
              exception_class text CHECK (char_length(exception_class) <= 100),
              exception_message text CHECK (char_length(exception_message) <= 1000)
            );
            CREATE INDEX IF NOT EXISTS i_batched_background_migration_job_transition_logs_on_job_id
              ON batched_background_migration_job_transition_logs (batched_background_migration_job_id);

            CREATE TABLE IF NOT EXISTS background_migration_jobs (
              id bigserial PRIMARY KEY,
              created_at timestamptz NOT NULL DEFAULT now(),
              updated_at timestamptz NOT NULL DEFAULT now(),
              status smallint NOT NULL DEFAULT 0,
              class_name text NOT NULL CHECK (char_length(class_name) <= 200),
              arguments jsonb NOT NULL
            );
            CREATE INDEX IF NOT EXISTS index_background_migration_jobs_on_class_name_and_arguments
              ON background_migration_jobs (class_name, arguments);
            CREATE INDEX IF NOT EXISTS index_background_migration_jobs_on_class_name_and_status_and_id
              ON background_migration_jobs (class_name, status, id);

            CREATE TABLE IF NOT EXISTS conveyor_settings (
              name text PRIMARY KEY,
              value text NOT NULL,
              updated_at timestamptz NOT NULL DEFAULT now()
            );
            """),
        // Cursor batching (GitLab 17.6's min_cursor/max_cursor on migrations and jobs) and
        // Conveyor's own: the cursor's columns, the walk's position, and a notification that
        // wakes worker schedulers when a migration becomes runnable.
        Step(version: 2, sql: """
            ALTER TABLE batched_background_migrations
              ADD COLUMN IF NOT EXISTS min_cursor jsonb,
              ADD COLUMN IF NOT EXISTS max_cursor jsonb,
              ADD COLUMN IF NOT EXISTS cursor_columns jsonb,
              ADD COLUMN IF NOT EXISTS last_cursor jsonb;
            ALTER TABLE batched_background_migration_jobs
              ADD COLUMN IF NOT EXISTS min_cursor jsonb,
              ADD COLUMN IF NOT EXISTS max_cursor jsonb;

            CREATE OR REPLACE FUNCTION conveyor_batched_migrations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN PERFORM pg_notify('\(BatchedMigrationScheduler.channel)', ''); RETURN NULL; END $$;
            DROP TRIGGER IF EXISTS conveyor_batched_migrations_notify ON batched_background_migrations;
            CREATE TRIGGER conveyor_batched_migrations_notify
              AFTER INSERT OR UPDATE OF status, on_hold_until ON batched_background_migrations
              FOR EACH ROW WHEN (NEW.status = 1) EXECUTE FUNCTION conveyor_batched_migrations_notify();
            DROP TRIGGER IF EXISTS conveyor_batched_migrations_notify ON conveyor_settings;
            CREATE TRIGGER conveyor_batched_migrations_notify
              AFTER INSERT OR UPDATE ON conveyor_settings
              FOR EACH ROW WHEN (NEW.name = 'execute_batched_migrations_on_schedule') EXECUTE FUNCTION conveyor_batched_migrations_notify();
            """),
        // The audit trail of operator actions (who, when, what, before and after), written
        // in the transaction of the change; and why a migration is throttled (indicator,
        // value, limit, pause), written by the worker that throttles it. Audit rows keep the
        // migration's id without a foreign key, so a deleted migration's history stays.
        Step(version: 3, sql: """
            CREATE TABLE IF NOT EXISTS conveyor_audit_log (
              id bigserial PRIMARY KEY,
              at timestamptz NOT NULL DEFAULT clock_timestamp(),
              actor text NOT NULL,
              remote_address text,
              via text NOT NULL,
              action text NOT NULL,
              migration_id bigint,
              target text NOT NULL,
              changes jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX IF NOT EXISTS index_conveyor_audit_log_on_migration_id_and_id ON conveyor_audit_log (migration_id, id);
            ALTER TABLE batched_background_migrations ADD COLUMN IF NOT EXISTS throttle jsonb;
            """),
    ]

    public static var latestVersion: Int { steps.last!.version }

    /// Applies missing steps (up to `version`, the latest by default); returns the versions
    /// applied (empty when up to date). Each step only adds (columns, functions, triggers),
    /// so migrations keep running while it is applied and processes of the previous release
    /// keep working against the upgraded tables.
    @discardableResult
    public static func setUp(_ db: PostgresConnection, through version: Int = latestVersion) throws -> [Int] {
        if try currentVersion(db) >= version { return [] }
        return try db.transaction { tx in
            try tx.query("SELECT pg_advisory_xact_lock(\(lockKey))")
            try tx.execute("""
                CREATE TABLE IF NOT EXISTS conveyor_schema_migrations (
                  version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let current = try tx.query("SELECT coalesce(max(version), 0) AS v FROM conveyor_schema_migrations").first?["v"].int() ?? 0
            var applied: [Int] = []
            for step in steps where step.version > current && step.version <= version {
                try tx.execute(step.sql)
                try tx.query("INSERT INTO conveyor_schema_migrations (version) VALUES (\(step.version))")
                applied.append(step.version)
            }
            return applied
        }
    }

    /// The applied version, 0 when the schema has never been set up.
    public static func currentVersion(_ db: PostgresConnection) throws -> Int {
        guard try db.query("SELECT to_regclass('conveyor_schema_migrations') IS NOT NULL AS present").first?["present"].bool() == true else {
            return 0
        }
        return try db.query("SELECT coalesce(max(version), 0) AS v FROM conveyor_schema_migrations").first?["v"].int() ?? 0
    }
}
