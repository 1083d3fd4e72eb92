#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocks the calling thread (these are worker threads, not tasks) for `duration`.
public func blockingSleep(_ duration: Duration) {
    guard duration > .zero else { return }
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Blocks the calling thread for `seconds` (fractions allowed; ≤ 0 returns at once).
public func blockingSleep(seconds: Double) {
    guard seconds > 0, seconds.isFinite else { return }
    blockingSleep(.nanoseconds(Int64(seconds * 1e9)))
}

extension Duration {
    /// Seconds as a Double.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
