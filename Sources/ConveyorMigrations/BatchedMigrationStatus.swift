/// Status of a batched migration, with GitLab's integers.
public enum BatchedMigrationStatus: Int, Sendable, CaseIterable, CustomStringConvertible {
    case paused = 0
    case active = 1
    case finished = 3
    case failed = 4
    case finalizing = 5
    case finalized = 6

    public var name: String {
        switch self {
        case .paused: return "paused"
        case .active: return "active"
        case .finished: return "finished"
        case .failed: return "failed"
        case .finalizing: return "finalizing"
        case .finalized: return "finalized"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Finished for the purpose of an upgrade gate.
    public var isComplete: Bool { self == .finished || self == .finalized }

    /// The operator-visible events and GitLab's rules for them.
    public enum Event: String, Sendable {
        case pause, execute, finish, failure, finalize, confirmFinalize
        /// An operator's resume: only a paused migration becomes active again.
        case resume
        /// An operator's retry: only a failed migration becomes active again.
        case retry

        /// The action's name in the audit trail.
        public var auditAction: String {
            switch self {
            case .execute: return "resume"
            case .confirmFinalize: return "confirm-finalize"
            case .failure: return "fail"
            default: return rawValue
            }
        }

        /// Events that (re)start a migration: `started_at` is set and a hold is lifted.
        var starts: Bool { self == .execute || self == .resume || self == .retry }
    }

    public struct InvalidTransition: Error, Sendable, CustomStringConvertible {
        public let from: BatchedMigrationStatus
        public let event: Event
        public var description: String {
            switch event {
            case .pause: return "You can pause only active background migrations (this one is \(from.name))."
            case .execute: return "You can resume only paused, active or failed background migrations (this one is \(from.name))."
            case .finish: return "A \(from.name) migration cannot be marked finished."
            case .failure: return "A \(from.name) migration cannot be marked failed."
            case .finalize: return "A \(from.name) migration cannot be finalized."
            case .confirmFinalize: return "Only a finished migration can be confirmed finalized (this one is \(from.name))."
            case .resume: return "You can resume only paused background migrations (this one is \(from.name))."
            case .retry: return "You can retry only failed background migrations (this one is \(from.name))."
            }
        }
    }

    /// The status after `event`, or why it is not allowed.
    public func applying(_ event: Event) -> Result<BatchedMigrationStatus, InvalidTransition> {
        let allowed: [BatchedMigrationStatus]
        let target: BatchedMigrationStatus
        switch event {
        case .pause: (allowed, target) = ([.active, .paused], .paused)
        case .execute: (allowed, target) = ([.active, .paused, .failed], .active)
        case .finish: (allowed, target) = ([.paused, .finished, .active, .finalizing], .finished)
        case .failure: (allowed, target) = ([.failed, .finalizing, .active], .failed)
        case .finalize: (allowed, target) = (Self.allCases, .finalizing)
        case .confirmFinalize: (allowed, target) = ([.finalized, .finished], .finalized)
        case .resume: (allowed, target) = ([.paused], .active)
        case .retry: (allowed, target) = ([.failed], .active)
        }
        return allowed.contains(self) ? .success(target) : .failure(InvalidTransition(from: self, event: event))
    }
}

/// Status of one batch, with GitLab's integers.
public enum BatchedJobStatus: Int, Sendable, CaseIterable, CustomStringConvertible {
    case pending = 0
    case running = 1
    case failed = 2
    case succeeded = 3

    public var name: String {
        switch self {
        case .pending: return "pending"
        case .running: return "running"
        case .failed: return "failed"
        case .succeeded: return "succeeded"
        }
    }

    public var description: String { name }
}
