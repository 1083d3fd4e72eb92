/// Tells several observers about each finished job, in order (e.g. the Prometheus metrics
/// of `--metrics-port` and Sidekiq's execution metrics).
public struct CompositeJobObserver: JobObserver {
    public let observers: [any JobObserver]

    public init(_ observers: [any JobObserver]) {
        self.observers = observers
    }

    /// nil for none, the observer itself for one, a composite for more.
    public static func combining(_ observers: [any JobObserver]) -> (any JobObserver)? {
        switch observers.count {
        case 0: return nil
        case 1: return observers[0]
        default: return CompositeJobObserver(observers)
        }
    }

    public func jobFinished(queue: String, className: String, seconds: Double, failed: Bool) {
        for observer in observers {
            observer.jobFinished(queue: queue, className: className, seconds: seconds, failed: failed)
        }
    }
}
