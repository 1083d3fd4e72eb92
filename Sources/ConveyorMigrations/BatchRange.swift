/// The first and last key of a batch (or sub-batch), both included.
public struct BatchRange: Sendable, Hashable, CustomStringConvertible {
    public var first: BatchCursor
    public var last: BatchCursor

    public init(first: BatchCursor, last: BatchCursor) {
        self.first = first
        self.last = last
    }

    public var description: String {
        if let a = first.integer, let b = last.integer { return "\(a)...\(b)" }
        return "\(first)...\(last)"
    }
}

/// Where the next batch starts: at a key (a migration's first batch) or just after one
/// (the end of the last batch).
public enum BatchStart: Sendable, Equatable {
    case at(BatchCursor)
    case after(BatchCursor)
}

/// Where a sub-batch ends: at a key (included) or just before one.
public enum BatchEnd: Sendable, Equatable {
    case through(BatchCursor)
    case before(BatchCursor)
}
