/// The order in which a processor looks at its queues, as Sidekiq does it: with no
/// weights, strictly in the order given; with weights, a weighted random order on every
/// fetch (a queue of weight 3 is three times as likely to come first as one of weight 1).
public struct QueueSelector: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var weight: Int
        public init(name: String, weight: Int) {
            self.name = name
            self.weight = weight
        }
    }

    public let entries: [Entry]
    public let isStrict: Bool
    private let expanded: [Int]

    public struct InvalidQueue: Error, CustomStringConvertible {
        public let description: String
    }

    /// `specs` are CLI values `name` or `name,weight`.
    public init(specs: [String]) throws {
        var entries: [Entry] = []
        var weighted = false
        for spec in specs {
            let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmed() }
            guard let name = parts.first, !name.isEmpty, parts.count <= 2 else {
                throw InvalidQueue(description: "queue '\(spec)' is not NAME or NAME,WEIGHT")
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.:".contains($0) }) else {
                throw InvalidQueue(description: "queue name '\(name)' may only contain letters, digits, '_', '-', '.' and ':'")
            }
            var weight = 1
            if parts.count == 2 {
                guard let w = Int(parts[1]), w >= 0 else {
                    throw InvalidQueue(description: "weight '\(parts[1])' of queue '\(name)' is not a whole number ≥ 0")
                }
                weight = max(w, 1)
                weighted = true
            }
            guard !entries.contains(where: { $0.name == name }) else {
                throw InvalidQueue(description: "queue '\(name)' is given twice")
            }
            entries.append(Entry(name: name, weight: weight))
        }
        guard !entries.isEmpty else { throw InvalidQueue(description: "no queues given") }
        self.init(entries: entries, strict: !weighted)
    }

    public init(entries: [Entry], strict: Bool) {
        self.entries = entries
        self.isStrict = strict
        expanded = entries.indices.flatMap { Array(repeating: $0, count: max(1, entries[$0].weight)) }
    }

    public var names: [String] { entries.map(\.name) }

    /// Queue indices in the order to try them this time.
    public func order<R: RandomNumberGenerator>(using random: inout R) -> [Int] {
        if isStrict || entries.count == 1 { return Array(entries.indices) }
        var shuffled = expanded
        shuffled.shuffle(using: &random)
        var seen = [Bool](repeating: false, count: entries.count)
        var result: [Int] = []
        result.reserveCapacity(entries.count)
        for index in shuffled where !seen[index] {
            seen[index] = true
            result.append(index)
        }
        return result
    }

    /// Expanded queue list as Sidekiq reports it in a process's `info.queues`.
    public var sidekiqQueueList: [String] { names }
}
