import ArgumentParser
import ConveyorMigrations

/// The options that shape a batched migration — batch and sub-batch size, pace, key range,
/// cursor and batching strategy — shared by `migrations queue` and `migrations estimate`,
/// which must read them alike.
struct QueueOptionsArguments: ParsableArguments {
    @Option(help: "Rows per batch (distinct values with LooseIndexScanBatchingStrategy).") var batchSize = 1000
    @Option(help: "Rows per sub-batch statement.") var subBatchSize = 100
    @Option(help: "Seconds between batches (0 = back to back).") var interval = 120
    @Option(name: .customLong("pause-ms"), help: "Milliseconds to pause between sub-batches.") var pauseMilliseconds = 100
    @Option(help: "Upper limit for the batch-size optimizer.") var maxBatchSize: Int?
    @Option(help: "Integer walks: first key to migrate (default 1).") var minValue: Int64?
    @Option(help: "Integer walks: last key to migrate (default: MAX(column)).") var maxValue: Int64?
    @Option(help: ArgumentHelp("Walk this unique tuple of columns, comma-separated; COLUMN is its first.", valueName: "col,col..."))
    var cursor: String?
    @Option(help: ArgumentHelp("Batching strategy: \(BatchClass.allCases.map(\.rawValue).joined(separator: " or ")).", valueName: "name"))
    var batchClass: String = BatchClass.primaryKey.rawValue

    /// The store's options; refuses an unknown strategy and a cursor with an empty column.
    func queueOptions() throws -> BatchedMigrationStore.QueueOptions {
        var options = BatchedMigrationStore.QueueOptions()
        options.batchClass = try BatchClass(named: batchClass)
        if let cursor {
            let columns = cursor.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmed() }
            guard !columns.contains(where: \.isEmpty) else {
                throw CLIError(message: "--cursor '\(cursor)' has an empty column name; give COL[,COL...]")
            }
            options.cursor = columns
        }
        options.batchSize = batchSize
        options.subBatchSize = subBatchSize
        options.interval = interval
        options.pauseMilliseconds = pauseMilliseconds
        options.maxBatchSize = maxBatchSize
        options.minValue = minValue
        options.maxValue = maxValue
        return options
    }
}
