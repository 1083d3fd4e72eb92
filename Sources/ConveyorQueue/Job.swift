import ConveyorJSON

/// A job a worker can run, registered under the class name producers put in `class`.
///
///     struct SendEmail: Job {
///         static let className = "SendEmail"
///         let address: String
///         init(arguments: [JSONValue]) throws {
///             guard let a = arguments.first?.stringValue else { throw JobError.badArguments("expected [address]") }
///             address = a
///         }
///         func perform(context: JobContext) throws { ... }
///     }
public protocol Job: SendableMetatype {
    /// The name producers use in the payload's `class` field.
    static var className: String { get }
    /// Decodes the payload's `args`; throwing fails the job (and retries it).
    init(arguments: [JSONValue]) throws
    func perform(context: JobContext) throws
}

/// An error a job throws to choose the `error_class` the retry and dead sets show.
public struct JobError: Error, Sendable, CustomStringConvertible {
    public let errorClass: String
    public let message: String

    public init(errorClass: String, message: String) {
        self.errorClass = errorClass
        self.message = message
    }

    public static func badArguments(_ message: String) -> JobError {
        JobError(errorClass: "ArgumentError", message: message)
    }

    /// Ruby's NameError for a class nobody registered, in the words Sidekiq's retry set
    /// shows: "uninitialized constant <name>: <detail>".
    public static func uninitializedConstant(_ name: String, _ detail: String) -> JobError {
        JobError(errorClass: "NameError", message: "uninitialized constant \(name): \(detail)")
    }

    public var description: String { message }
}

/// Errors that name their own `error_class` (otherwise the Swift type name is used).
public protocol JobFailureDescribing: Error {
    var jobErrorClass: String { get }
}

extension JobError: JobFailureDescribing {
    public var jobErrorClass: String { errorClass }
}

/// Maps class names to the code that runs them.
public struct JobRegistry: Sendable {
    public typealias Handler = @Sendable (JobContext, [JSONValue]) throws -> Void
    private var handlers: [String: Handler] = [:]

    public init() {}

    /// NoopJob, SleepJob, FailJob and RecordJob.
    public static var builtIn: JobRegistry {
        var registry = JobRegistry()
        registry.register(NoopJob.self)
        registry.register(SleepJob.self)
        registry.register(FailJob.self)
        registry.register(RecordJob.self)
        return registry
    }

    public mutating func register<J: Job>(_ type: J.Type) {
        handlers[J.className] = { context, arguments in
            try J(arguments: arguments).perform(context: context)
        }
    }

    public mutating func register(_ className: String, _ handler: @escaping Handler) {
        handlers[className] = handler
    }

    public mutating func merge(_ other: JobRegistry) {
        handlers.merge(other.handlers) { _, new in new }
    }

    public func handler(for className: String) -> Handler? { handlers[className] }

    public var classNames: [String] { handlers.keys.sorted() }
}
