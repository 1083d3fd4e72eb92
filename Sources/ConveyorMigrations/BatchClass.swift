/// GitLab's batching strategies, by the names `batch_class_name` holds. Cursor batching
/// is GitLab's `PrimaryKeyBatchingStrategy` walking a cursor (a tuple of columns) instead
/// of one integer column, as it is in GitLab since 17.6.
public enum BatchClass: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Batches of `batch_size` rows in the order of the batching column (or cursor).
    case primaryKey = "PrimaryKeyBatchingStrategy"
    /// Batches of `batch_size` distinct values of a non-unique integer column, found by a
    /// loose index scan.
    case looseIndexScan = "LooseIndexScanBatchingStrategy"

    static let gitlabModule = "Gitlab::BackgroundMigration::BatchingStrategies::"

    /// Accepts the bare name, `::Name` and GitLab's fully qualified
    /// `Gitlab::BackgroundMigration::BatchingStrategies::Name`, as GitLab stores them.
    public init(named text: String) throws {
        var name = text.hasPrefix("::") ? String(text.dropFirst(2)) : text
        if name.hasPrefix(Self.gitlabModule) { name = String(name.dropFirst(Self.gitlabModule.count)) }
        guard let known = Self(rawValue: name) else {
            throw MigrationError(
                .invalidArguments,
                "unknown batch class '\(text)' (known: \(Self.allCases.map(\.rawValue).joined(separator: ", ")); cursor batching is PrimaryKeyBatchingStrategy with --cursor)")
        }
        self = known
    }

    public var description: String { rawValue }
}
