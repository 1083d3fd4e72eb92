import ConveyorPostgres
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Reads the throttle's indicators on the primary in one round trip: the replication lag
/// of the streaming replicas (bytes between the primary's WAL position and the slowest
/// replica's replay position, from `pg_stat_replication`) and the WAL generation rate
/// (bytes per second between this process's previous sample and now).
struct ThrottleProbe {
    let db: PostgresConnection
    let settings: MigrationSettings

    /// WAL positions sampled by this process, per migration.
    static let samples = Mutex<[Int64: (bytes: Double, at: Double, rate: Double?)]>([:])

    func readings(migrationID: Int64, now: Double = Date().timeIntervalSince1970) throws -> [Throttle.Reading] {
        let lagLimit = Double(settings.throttleReplicationLagBytes)
        let rateLimit = Double(settings.throttleWALBytesPerSecond)
        guard lagLimit > 0 || rateLimit > 0 else { return [] }
        guard let row = try db.query(
            """
            SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 END AS lsn,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE (
                     SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8 FROM pg_catalog.pg_stat_replication
                     WHERE replay_lsn IS NOT NULL) END AS lag
            """).first
        else { return [] }
        var readings: [Throttle.Reading] = []
        if lagLimit > 0, let lag = try row["lag"].optionalDouble() {
            readings.append(Throttle.Reading(indicator: "ReplicationLag", value: lag, limit: lagLimit, unit: "bytes"))
        }
        if rateLimit > 0, let lsn = try row["lsn"].optionalDouble(),
            let rate = Self.rate(migrationID: migrationID, bytes: lsn, at: now)
        {
            readings.append(Throttle.Reading(indicator: "WALRate", value: rate, limit: rateLimit, unit: "bytes/s"))
        }
        return readings
    }

    /// The WAL rate since this process's previous sample for the migration (kept when the
    /// samples are too close together to measure).
    static func rate(migrationID: Int64, bytes: Double, at now: Double) -> Double? {
        samples.withLock { samples in
            guard let previous = samples[migrationID] else {
                samples[migrationID] = (bytes, now, nil)
                return nil
            }
            if now - previous.at < 0.2 { return previous.rate }
            let rate = Throttle.walRate(fromBytes: previous.bytes, toBytes: bytes, seconds: now - previous.at)
            samples[migrationID] = (bytes, now, rate)
            return rate
        }
    }
}
