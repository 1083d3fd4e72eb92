import ConveyorRedis
import Testing
import TestSupport

@testable import ConveyorQueue

@Suite("Acknowledgement channel (batched, replies off)")
struct AcknowledgementChannelTests {
    @Test("batched acknowledgements all arrive: pushed by an idle moment, proven read by confirm")
    func batchedArrive() throws {
        let (redis, url) = try TestEnvironment.isolatedRedis()
        let fetch = ReliableFetch(identity: "host:1:ack", queues: ["default"])
        for i in 0..<500 { try redis.command("LPUSH", "queue:default", "job-\(i)") }
        let batch = try #require(try fetch.fetch(ReliableFetch.FetchRequest(number: 1, order: [0], limit: 500, collect: nil), on: redis))
        let channel = AcknowledgementChannel(configuration: try RedisConfiguration(url: url), window: .seconds(60), confirmEvery: 100_000)
        defer { channel.close() }
        for raw in batch.jobs.prefix(10) { try channel.send(fetch.acknowledgement(of: raw, queueIndex: 0)) }
        channel.push()
        #expect(try TestEnvironment.eventually(timeout: .seconds(5)) { try redis.command("LLEN", fetch.workingLists[0]).int == 490 }, "pushed without a round trip")
        for raw in batch.jobs.dropFirst(10) { try channel.send(fetch.acknowledgement(of: raw, queueIndex: 0)) }
        try channel.confirm()
        #expect(try redis.command("LLEN", fetch.workingLists[0]).int == 0, "confirm returns once Redis has read them all")
        // Nothing but the acknowledgements ran on it: the connection stays usable after confirm.
        try redis.command("LPUSH", fetch.workingLists[0], "late")
        try channel.send(fetch.acknowledgement(of: Array("late".utf8), queueIndex: 0))
        try channel.confirm()
        #expect(try redis.command("LLEN", fetch.workingLists[0]).int == 0)
    }

    @Test("after the connection is lost, the acknowledgements not yet proven read are written again")
    func resentAfterReconnect() throws {
        let (redis, url) = try TestEnvironment.isolatedRedis()
        let channel = AcknowledgementChannel(configuration: try RedisConfiguration(url: url), window: .seconds(60), confirmEvery: 100_000)
        defer { channel.close() }
        try channel.send(RedisCommand(["RPUSH", "acks", "a"]))
        try channel.send(RedisCommand(["RPUSH", "acks", "b"]))
        // The server drops the channel's connection (found by its name and database).
        let database = try #require(url.split(separator: "/").last)
        let ids = try #require(try redis.command("CLIENT", "LIST").string).split(separator: "\n")
            .filter { $0.contains(" name=conveyor-ack ") && $0.contains(" db=\(database) ") }
            .compactMap { $0.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3) }
        #expect(ids.count == 1)
        for id in ids { try redis.command("CLIENT", "KILL", "ID", String(id)) }
        var sent = false
        for _ in 0..<3 where !sent {
            do {
                try channel.send(RedisCommand(["RPUSH", "acks", "c"]))
                sent = true
            } catch {}
        }
        #expect(sent)
        // A write into the dead socket can still "succeed"; confirming finds the loss,
        // and the next attempt reconnects and writes the unconfirmed ones again.
        var confirmed = false
        for _ in 0..<3 where !confirmed {
            do {
                try channel.confirm()
                confirmed = true
            } catch {}
        }
        #expect(confirmed)
        let acks = try redis.command("LRANGE", "acks", 0, -1).strings
        #expect(Set(acks) == ["a", "b", "c"], "every command arrived at least once: \(acks)")
    }
}
