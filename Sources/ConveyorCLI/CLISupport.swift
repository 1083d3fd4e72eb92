import ArgumentParser
import ConveyorJSON
import ConveyorMigrations
import ConveyorPostgres
import ConveyorQueue
import ConveyorRedis
#if canImport(Glibc)
import Glibc
#endif
import ConveyorPlatform
import Logging
import Synchronization

/// What the CLI runs with: the built-in jobs and migrations, plus whatever a user's own
/// executable registers before calling `ConveyorCLI.main(...)`.
enum CLIRuntime {
    struct Extensions: Sendable {
        var jobs = JobRegistry.builtIn
        var backgroundMigrations = BackgroundMigrationRegistry.builtIn
        var batchedJobs = BatchedJobRegistry.builtIn
    }

    static let storage = Mutex(Extensions())
    static var extensions: Extensions { storage.withLock { $0 } }

    /// The job registry a worker runs: user jobs plus the migration workers.
    static var registry: JobRegistry {
        let extensions = self.extensions
        var jobs = extensions.jobs
        ConveyorMigrations.register(into: &jobs, backgroundMigrations: extensions.backgroundMigrations, batchedJobs: extensions.batchedJobs)
        return jobs
    }
}

/// A failure the CLI reports as one clear line on stderr, exiting with `code`.
public struct CLIError: Error, CustomStringConvertible {
    public let message: String
    public var code: Int32 = 1
    public var description: String { message }
    public init(message: String, code: Int32 = 1) {
        self.message = message
        self.code = code
    }
}

/// Options every command that talks to Redis/PostgreSQL shares.
public struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env CONVEYOR_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp(
        "text (Sidekiq's log lines, the default) or json (one object per line: ts, pid, tid, lvl, msg, ctx) (env CONVEYOR_LOG_FORMAT).",
        valueName: "text|json"))
    var logFormat: String?

    public init() {}

    public func redisConfiguration() throws -> RedisConfiguration {
        do { return try RedisConfiguration.fromEnvironment() } catch { throw CLIError(message: error.description) }
    }

    func postgresConfiguration() -> PostgresConfiguration { PostgresConfiguration.fromEnvironment() }

    func redis() throws -> RedisConnection {
        do { return try RedisConnection(redisConfiguration()) } catch let error as RedisError {
            throw CLIError(message: "\(error.description) (REDIS_URL=\(RedisConfiguration.redacted(ProcessEnvironment["REDIS_URL"] ?? RedisConfiguration.defaultURL)))")
        }
    }

    func postgres() throws -> PostgresConnection {
        do { return try PostgresConnection(postgresConfiguration()) } catch {
            throw CLIError(message: "\(error.description)\nSet DATABASE_URL (e.g. postgres://user@host:5432/db) or the PG* variables.")
        }
    }

    public func logger(_ label: String, output: LogOutput = .standardError, defaultLevel: Logger.Level = .info) throws -> Logger {
        let text = logLevel ?? ProcessEnvironment["CONVEYOR_LOG_LEVEL"]
        var level = defaultLevel
        if let text {
            guard let parsed = Logger.Level(rawValue: text.lowercased() == "warn" ? "warning" : text.lowercased()) else {
                throw ValidationError("unknown log level '\(text)'; use trace, debug, info, notice, warning or error")
            }
            level = parsed
        }
        switch try LogFormat.resolve(option: logFormat, environment: ProcessEnvironment["CONVEYOR_LOG_FORMAT"]) {
        case .text: return Logger(label: label) { _ in ConveyorLogHandler(level: level, output: output) }
        case .json: return Logger(label: label) { _ in JSONLogHandler(level: level, output: output) }
        }
    }
}

extension RedisConfiguration {
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.firstRange(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}

/// Runs a command body, turning library errors into one clear line.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CLIError {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        throw CLIError(message: String(describing: error))
    }
}

/// Writes text to stderr at once (progress lines that redraw themselves).
func writeToStandardError(_ text: String) {
    Array(text.utf8).withUnsafeBytes { writeAll(STDERR_FILENO, $0) }
}

/// Prints a JSON value on stdout.
func printJSON(_ value: JSONValue) {
    print(value.serialized())
}

/// Parses a user's JSON argument that must be an array.
func parseJSONArray(_ text: String, what: String) throws -> [JSONValue] {
    let value: JSONValue
    do { value = try JSONValue.parse(text) } catch {
        throw ValidationError("\(what) is not valid JSON (\(error)); example: '[1, \"two\"]'")
    }
    guard case .array(let array) = value else {
        throw ValidationError("\(what) must be a JSON array, e.g. '[\(text)]'")
    }
    return array
}

func formatDuration(_ seconds: Double) -> String {
    if seconds < 1 { return String(cFormat: "%.0f ms", seconds * 1000) }
    if seconds < 120 { return String(cFormat: "%.1f s", seconds) }
    if seconds < 7200 { return String(cFormat: "%.1f min", seconds / 60) }
    if seconds < 172_800 { return String(cFormat: "%.1f h", seconds / 3600) }
    return String(cFormat: "%.1f days", seconds / 86400)
}

/// Whether stdout is a terminal (for progress bars).
var stdoutIsTerminal: Bool { isatty(1) == 1 }
var stderrIsTerminal: Bool { isatty(2) == 1 }
