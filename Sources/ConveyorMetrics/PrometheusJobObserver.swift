import ConveyorQueue
import Prometheus
import Synchronization

/// A worker's own metrics: jobs finished per queue and outcome, and a histogram of job
/// durations per queue, in a Prometheus registry that `MetricsServer` exposes.
public final class PrometheusJobObserver: JobObserver {
    public let registry: PrometheusCollectorRegistry
    private let collectors = Mutex<[String: (ok: Counter, failed: Counter, duration: ValueHistogram)]>([:])
    public static let buckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    public func jobFinished(queue: String, className: String, seconds: Double, failed: Bool) {
        let set = collectors.withLock { cache in
            if let existing = cache[queue] { return existing }
            let made = (
                ok: registry.makeCounter(
                    descriptor: MetricNameDescriptor(metricName: "conveyor_worker_jobs", unitName: "total", helpText: "Jobs this process finished, by queue and outcome"),
                    labels: [("queue", queue), ("outcome", "succeeded")]),
                failed: registry.makeCounter(
                    descriptor: MetricNameDescriptor(metricName: "conveyor_worker_jobs", unitName: "total", helpText: "Jobs this process finished, by queue and outcome"),
                    labels: [("queue", queue), ("outcome", "failed")]),
                duration: registry.makeValueHistogram(
                    descriptor: MetricNameDescriptor(metricName: "conveyor_worker_job_duration", unitName: "seconds", helpText: "How long jobs ran, by queue"),
                    labels: [("queue", queue)], buckets: Self.buckets))
            cache[queue] = made
            return made
        }
        (failed ? set.failed : set.ok).increment()
        set.duration.record(seconds)
    }
}
