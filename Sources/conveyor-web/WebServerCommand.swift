import ArgumentParser
import ConveyorCLI
import ConveyorPostgres
import ConveyorRedis
import ConveyorScheduleYAML
import ConveyorWeb
import Foundation
import Hummingbird
import Logging

/// The web server behind `conveyor web` (a separate program so that workers never load the
/// HTTP stack).
@main
struct WebServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor web",
        abstract: "Serve the admin pages: queues (Sidekiq-style) and Background Migrations (GitLab-style).",
        discussion: """
            Pages: / (dashboard), /busy, /queues, /scheduled, /retries, /dead,
            /admin/background_migrations; JSON under /api/...; Prometheus text at
            /metrics. Listens on 127.0.0.1:9292 by default. Any other address needs
            CONVEYOR_WEB_PASSWORD, which every request must then send (HTTP Basic, any
            user name). Forms are protected against CSRF; everything shown is escaped; a
            strict Content-Security-Policy applies.

            Probes for Kubernetes, without the password: GET /healthz and /readyz
            answer 200 while Redis answers, 503 otherwise.
            """)

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "HOST:PORT"))
    var bind = "127.0.0.1:9292"

    /// `conveyor worker --schedule FILE` (and `conveyor cron check`) run this program to
    /// read the YAML: Yams needs Foundation, which the worker binary leaves out to stay small.
    @Option(name: .customLong("schedule-to-json"), help: .hidden)
    var scheduleToJSON: String?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        if let scheduleToJSON {
            print(ScheduleYAMLCommand.convert(path: scheduleToJSON).serialized())
            return
        }
        let (host, port): (String, Int)
        do { (host, port) = try WebConfiguration.parseBind(bind) } catch { throw ValidationError(error.description) }
        let environment = ProcessInfo.processInfo.environment
        var postgres: PostgresConfiguration? = PostgresConfiguration.fromEnvironment()
        if environment["DATABASE_URL"] == nil && environment["PGHOST"] == nil && environment["PGDATABASE"] == nil { postgres = nil }
        let configuration = WebConfiguration(
            host: host, port: port, password: environment["CONVEYOR_WEB_PASSWORD"], redis: try connection.redisConfiguration(), postgres: postgres)
        let logger = try connection.logger("conveyor.web")
        let app: any ApplicationProtocol
        do {
            app = try WebApplication.build(configuration: configuration, logger: logger) { actual in
                logger.notice("Conveyor web is listening on http://\(host.contains(":") ? "[\(host)]" : host):\(actual)/")
            }
        } catch let refused as WebConfiguration.Refused {
            throw CLIError(message: refused.description)
        }
        try await app.runService()
    }
}
