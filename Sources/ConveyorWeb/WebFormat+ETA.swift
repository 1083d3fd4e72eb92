import ConveyorMigrations

extension WebFormat {
    /// `5.2 min (4.1 min – 6.8 min)`: the live ETA and its range; `-` when unknown.
    static func eta(_ progress: MigrationProgress) -> String {
        guard let eta = progress.etaSeconds else { return "-" }
        guard let low = progress.etaLowSeconds, let high = progress.etaHighSeconds else { return duration(eta) }
        return "\(duration(eta)) (\(duration(low)) – \(duration(high)))"
    }
}
