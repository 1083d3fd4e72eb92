import ConveyorJSON

/// How Sidekiq 7 and 8 describe a process's queues in its heartbeat `info`.
extension QueueSelector {
    /// Sidekiq's capsule mode: `strict` when no weights were given, `random` when every
    /// weight is 1 (each fetch shuffles the queues evenly), `weighted` otherwise.
    public var sidekiqMode: String {
        if isStrict { return "strict" }
        return entries.allSatisfy { $0.weight == 1 } ? "random" : "weighted"
    }

    /// Queue → weight, with 0 for every queue of a strict order, as Sidekiq writes it.
    public var sidekiqWeights: JSONObject {
        var weights = JSONObject()
        for entry in entries { weights[entry.name] = JSONValue(isStrict ? 0 : entry.weight) }
        return weights
    }

    /// Sidekiq 8.0.9+'s `capsules`: the worker's one capsule, named `default`.
    public func sidekiqCapsules(concurrency: Int) -> JSONValue {
        var capsule = JSONObject()
        capsule["concurrency"] = JSONValue(concurrency)
        capsule["mode"] = .string(sidekiqMode)
        capsule["weights"] = .object(sidekiqWeights)
        var capsules = JSONObject()
        capsules["default"] = .object(capsule)
        return .object(capsules)
    }
}
