/// Failures of migration commands, with messages that say what to do.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidArguments
        case notFound
        case alreadyExists
        case invalidState
        case notFinished
        case unknownClass
        case failedToFinalize
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
