import ConveyorJSON
import Foundation
import Logging
import Testing

@testable import ConveyorCLI

@Suite("JSON log lines")
struct JSONLogTests {
    /// Logs through a handler into a file of its own and returns the lines written.
    func lines(_ body: (Logger) -> Void) throws -> [String] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-jsonlog-\(getpid())-\(UUID().uuidString)").path
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        let output = LogOutput(descriptor: fd)
        var logger = Logger(label: "test") { _ in JSONLogHandler(level: .debug, output: output) }
        logger[metadataKey: "component"] = "worker"
        body(logger)
        output.flush()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    @Test("one object per line with ts, pid, tid, lvl, msg and the context under ctx, as Sidekiq's JSON formatter writes")
    func shape() throws {
        let written = try lines { logger in
            logger.info("done", metadata: ["jid": "0123456789abcdef01234567", "class": "NoopJob", "queue": "default", "elapsed": "0.000012"])
            logger.warning("fail", metadata: [
                "jid": "aaaaaaaaaaaaaaaaaaaaaaaa", "class": "FailJob", "queue": "critical", "elapsed": "1.500000",
                "error_class": "RuntimeError", "error": "line one\nsaid \"no\" \\ \u{1}",
            ])
            logger.notice("batched migration finished", metadata: ["migration": "42", "table": "events"])
            logger.debug("plain")
        }
        #expect(written.count == 4)
        let done = try JSONValue.parse(written[0])
        #expect(done.objectValue?.keys == ["ts", "pid", "tid", "lvl", "msg", "ctx"])
        #expect(done["pid"]?.intValue == Int(getpid()))
        #expect(done["tid"]?.stringValue?.isEmpty == false)
        #expect(done["lvl"] == "INFO")
        #expect(done["msg"] == "done")
        let ts = try #require(done["ts"]?.stringValue)
        #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.contains("T"), "\(ts)")
        #expect(done["ctx"]?.objectValue?.keys == ["jid", "class", "queue", "elapsed", "component"])
        #expect(done["ctx"]?["jid"] == "0123456789abcdef01234567")
        #expect(done["ctx"]?["class"] == "NoopJob")
        #expect(done["ctx"]?["elapsed"]?.doubleValue == 0.000012)
        #expect(done["ctx"]?["component"] == "worker")

        let fail = try JSONValue.parse(written[1])
        #expect(fail["lvl"] == "WARN")
        #expect(fail["ctx"]?["error_class"] == "RuntimeError")
        #expect(fail["ctx"]?["error"]?.stringValue == "line one\nsaid \"no\" \\ \u{1}")
        let migration = try JSONValue.parse(written[2])
        #expect(migration["ctx"]?["migration"]?.intValue == 42)
        #expect(migration["ctx"]?["table"] == "events")
        #expect(try JSONValue.parse(written[3])["ctx"]?["component"] == "worker")
    }

    @Test("only JSON number literals become numbers")
    func numbers() {
        for text in ["0", "12", "-3", "0.5", "1e3", "2.5E-4"] { #expect(JSONLogHandler.isJSONNumber(text), "\(text)") }
        for text in ["", "-", "012", ".5", "1.", "1e", "0x1", "12s", "NaN", "1 2"] { #expect(!JSONLogHandler.isJSONNumber(text), "\(text)") }
    }

    @Test("--log-format wins over CONVEYOR_LOG_FORMAT; text is the default; anything else is refused")
    func formatChoice() throws {
        #expect(try LogFormat.resolve(option: nil, environment: nil) == .text)
        #expect(try LogFormat.resolve(option: nil, environment: "JSON") == .json)
        #expect(try LogFormat.resolve(option: "text", environment: "json") == .text)
        #expect(throws: (any Error).self) { try LogFormat.resolve(option: "yaml", environment: nil) }
    }
}
