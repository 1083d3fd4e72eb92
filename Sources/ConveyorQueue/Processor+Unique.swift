import ConveyorRedis

/// The one step unique jobs add to running a job: releasing the job's lock (when it
/// starts, or when it succeeds or dies; a job waiting to retry keeps it). A synchronous
/// script call on the processor's own connection, made only for payloads that carry
/// `unique_for`; a failure leaves the lock to its TTL rather than holding up the job.
extension Processor {
    func releaseUnique(_ lock: UniqueLock) {
        do {
            try lock.release(on: redis)
        } catch {
            logger.warning("could not release the unique lock; it lapses at its TTL", metadata: [
                "jid": .string(lock.jid), "lock": .string(lock.key), "error": .string(error.description),
            ])
        }
    }
}

extension RetryPolicy.Outcome {
    /// True when the job will run again (so a unique job keeps its lock).
    var isRetry: Bool {
        if case .retry = self { return true }
        return false
    }
}
