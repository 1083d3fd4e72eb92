import ArgumentParser

/// How log lines look: Sidekiq's text lines (the default) or one JSON object per line, in
/// the shape of Sidekiq's JSON formatter, for Loki, Elasticsearch or CloudWatch.
public enum LogFormat: String, Sendable, CaseIterable, ExpressibleByArgument {
    case text
    case json

    /// `--log-format`, else `CONVEYOR_LOG_FORMAT`, else text.
    static func resolve(option: String?, environment: String?) throws -> LogFormat {
        guard let text = option ?? environment, !text.isEmpty else { return .text }
        guard let format = LogFormat(rawValue: text.lowercased()) else {
            throw ValidationError("unknown log format '\(text)'; use text or json")
        }
        return format
    }
}
