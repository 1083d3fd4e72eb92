import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
import Prometheus

/// The whole installation's state in Prometheus text: queues, counters and processes from
/// Redis, batched migrations from PostgreSQL. Built fresh on each scrape.
public enum ClusterMetrics {
    public static let batchBuckets: [Double] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    public static func render(redis: RedisConnection, db: PostgresConnection?) throws -> String {
        let registry = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ unit: String = "", _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: labels).set(value)
        }
        func counter(_ name: String, _ help: String, _ value: Int) {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help)).increment(by: Int64(value))
        }
        let api = QueueAPI(redis: redis)
        let stats = try api.stats()
        counter("conveyor_processed", "Jobs processed (stat:processed)", stats.processed)
        counter("conveyor_failed", "Jobs failed (stat:failed)", stats.failed)
        gauge("conveyor_scheduled_jobs", "", "Jobs in the schedule set", [], Double(stats.scheduled))
        gauge("conveyor_retry_jobs", "", "Jobs in the retry set", [], Double(stats.retries))
        gauge("conveyor_dead_jobs", "", "Jobs in the dead set", [], Double(stats.dead))
        gauge("conveyor_processes", "", "Live worker processes", [], Double(stats.processes))
        gauge("conveyor_busy_jobs", "", "Jobs running now", [], Double(stats.busy))
        for queue in stats.queues {
            gauge("conveyor_queue_size", "", "Jobs waiting in a queue", [("queue", queue.name)], Double(queue.size))
            gauge("conveyor_queue_latency", "seconds", "Age of the oldest job in a queue", [("queue", queue.name)], queue.latency)
        }
        periodicMetrics(try PeriodicStatus.all(on: redis, now: Timestamp.now()), into: registry)
        var histogramText = ""
        if let db, try Schema.currentVersion(db) > 0 {
            for migration in try BatchedMigrationStore(db: db).list() {
                let labels = [("id", String(migration.id)), ("job_class", migration.jobClassName), ("table", migration.tableName), ("column", migration.columnName)]
                let progress = try MigrationProgress.measure(migration, db: db)
                gauge("conveyor_batched_migration_status", "", "Status (0 paused, 1 active, 3 finished, 4 failed, 5 finalizing, 6 finalized)", labels, Double(migration.status.rawValue))
                gauge("conveyor_batched_migration_progress", "percent", "Progress of a batched migration", labels, progress.percent ?? 0)
                gauge("conveyor_batched_migration_batch_size", "", "Current batch size", labels, Double(migration.batchSize))
                gauge("conveyor_batched_migration_rows", "per_second", "Recent rows per second", labels, progress.rowsPerSecond ?? 0)
                if let eta = progress.etaSeconds {
                    for (bound, value) in [("estimate", eta), ("low", progress.etaLowSeconds ?? eta), ("high", progress.etaHighSeconds ?? eta)] {
                        gauge("conveyor_batched_migration_eta", "seconds", "Time left at the recent rate, with its range (bound: estimate, low, high)", labels + [("bound", bound)], value)
                    }
                }
                gauge("conveyor_batched_migration_on_hold", "", "1 while a health signal holds the migration", labels, migration.isOnHold ? 1 : 0)
                let throttle = migration.throttle
                gauge("conveyor_batched_migration_throttled", "", "1 while a soft limit slows the migration down", labels + [("indicator", throttle?.indicator ?? "")], throttle == nil ? 0 : 1)
                gauge("conveyor_batched_migration_throttle_pause", "seconds", "Pause between batches a soft limit imposes (0 when not throttled)", labels, throttle?.pauseSeconds ?? 0)
                if let throttle {
                    gauge("conveyor_batched_migration_throttle_value", "", "The throttling indicator's value (bytes, bytes/s)", labels + [("indicator", throttle.indicator)], throttle.value)
                    gauge("conveyor_batched_migration_throttle_limit", "", "The throttling indicator's soft limit", labels + [("indicator", throttle.indicator)], throttle.limit)
                }
            }
            histogramText = try batchDurationHistogram(db)
        }
        return registry.emitToString() + histogramText
    }

    /// Ticks of each periodic entry, across every process: enqueued, and skipped (paused,
    /// unique lock held, or passed over after downtime), from the counters the claim script keeps.
    static func periodicMetrics(_ statuses: [PeriodicStatus], into registry: PrometheusCollectorRegistry) {
        for status in statuses {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: "conveyor_periodic_ticks_enqueued", unitName: "total", helpText: "Periodic ticks that enqueued their job"),
                labels: [("name", status.name)]
            ).increment(by: Int64(status.enqueued))
            for (reason, count) in [("paused", status.skippedPaused), ("duplicate", status.skippedDuplicate), ("missed", status.missed)] {
                registry.makeCounter(
                    descriptor: MetricNameDescriptor(metricName: "conveyor_periodic_ticks_skipped", unitName: "total", helpText: "Periodic ticks that enqueued nothing, by reason"),
                    labels: [("name", status.name), ("reason", reason)]
                ).increment(by: Int64(count))
            }
            registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: "conveyor_periodic_paused", unitName: "", helpText: "1 while a periodic entry is paused"),
                labels: [("name", status.name)]
            ).set(status.paused ? 1.0 : 0.0)
        }
    }

    /// `conveyor_batched_migration_batch_duration_seconds` from every finished batch.
    static func batchDurationHistogram(_ db: PostgresConnection) throws -> String {
        let buckets = batchBuckets.map { "count(*) FILTER (WHERE d <= \($0))" }.joined(separator: ", ")
        let rows = try db.query(PostgresQuery(unsafeSQL: """
            SELECT batched_background_migration_id AS id, \(buckets), count(*) AS total, coalesce(sum(d), 0)::float8 AS sum
            FROM (SELECT batched_background_migration_id, extract(epoch FROM finished_at - started_at)::float8 AS d
                  FROM batched_background_migration_jobs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) j
            GROUP BY batched_background_migration_id ORDER BY 1
            """))
        guard !rows.isEmpty else { return "" }
        let name = "conveyor_batched_migration_batch_duration_seconds"
        var text = "# HELP \(name) Duration of finished batches\n# TYPE \(name) histogram\n"
        for row in rows {
            let id = try row["id"].int64()
            for (index, bound) in batchBuckets.enumerated() {
                text += "\(name)_bucket{migration_id=\"\(id)\",le=\"\(bound)\"} \(try row[index + 1].int())\n"
            }
            let total = try row["total"].int()
            text += "\(name)_bucket{migration_id=\"\(id)\",le=\"+Inf\"} \(total)\n"
            text += "\(name)_sum{migration_id=\"\(id)\"} \(try row["sum"].double())\n"
            text += "\(name)_count{migration_id=\"\(id)\"} \(total)\n"
        }
        return text
    }

    /// A worker's own metrics: its registry plus gauges read now.
    public static func renderWorker(state: WorkerState, concurrency: Int, observer: PrometheusJobObserver) -> String {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "conveyor_worker_busy", unitName: "", helpText: "Jobs this process runs now")).set(Double(state.busy))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "conveyor_worker_concurrency", unitName: "", helpText: "Processor threads")).set(Double(concurrency))
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "conveyor_worker_quiet", unitName: "", helpText: "1 when quiet or stopping")).set(state.isQuiet ? 1.0 : 0.0)
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "conveyor_worker_resident_memory", unitName: "bytes", helpText: "Resident set size")).set(Int64(ProcessFactsBridge.residentBytes()))
        return registry.emitToString() + observer.registry.emitToString()
    }
}
