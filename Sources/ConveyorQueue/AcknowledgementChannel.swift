import ConveyorPlatform
import ConveyorRedis

/// How a processor tells Redis that jobs finished: a connection of its own (opened on the
/// first acknowledgement), with replies off, on which every acknowledgement is written to the kernel
/// before its processor takes another job (so a killed process re-runs only the jobs that
/// were running) while the kernel holds the bytes and sends them in batches (so Redis wakes
/// once per batch, not once per job). A batch goes out after 8 acknowledgements or `window`
/// (5 ms) after its first, whichever comes first, when jobs keep finishing, when a processor goes idle, and after
/// ~200 ms otherwise (the kernel's limit). Only a crash of the whole machine can lose the
/// acknowledgements of that window, re-running those jobs once more.
///
/// Acknowledgements written since the server last proved it read them are kept and written
/// again after a reconnect (removing a job twice is harmless); a round trip every
/// `confirmEvery` acknowledgements bounds that list.
final class AcknowledgementChannel: @unchecked Sendable {
    private struct State {
        var connection: RedisConnection?
        var unconfirmed: [RedisCommand] = []
        var pushedAt = ContinuousClock.now
        var hasUnpushed = false
        var unpushed = 0
    }

    private let configuration: RedisConfiguration
    private let window: Duration
    private let confirmEvery: Int
    private let maxUnpushed = 8
    private let lock = SpinningLock()
    /// Guarded by `lock`.
    private var state = State()

    init(configuration: RedisConfiguration, window: Duration = .milliseconds(5), confirmEvery: Int = 1024) {
        var configuration = configuration
        configuration.clientName = "conveyor-ack"
        self.configuration = configuration
        self.window = window
        self.confirmEvery = confirmEvery
    }

    /// Writes `command` (an acknowledgement) to the kernel; throws when Redis is
    /// unreachable (the caller retries: its job stays in the working list meanwhile).
    func send(_ command: RedisCommand) throws(RedisError) {
        try lock.withLock { () throws(RedisError) in
            let connection = try connected(&self.state)
            try write(command, on: connection, &self.state)
            state.unconfirmed.append(command)
            let now = ContinuousClock.now
            if !state.hasUnpushed {
                state.hasUnpushed = true
                state.pushedAt = now
                state.unpushed = 1
            } else {
                state.unpushed += 1
                // Also after a few: acknowledgements held back here stand between Redis's
                // scan from the list's tail and the ones other processors send.
                if state.unpushed >= maxUnpushed || now - state.pushedAt >= window {
                    connection.pushBatched()
                    state.hasUnpushed = false
                }
            }
            if state.unconfirmed.count >= confirmEvery { try confirm(&self.state) }
        }
    }

    /// Sends what the kernel holds now (a processor with nothing to do calls this).
    func push() {
        lock.withLock {
            guard state.hasUnpushed else { return }
            state.connection?.pushBatched()
            state.hasUnpushed = false
        }
    }

    /// Waits until Redis has read every acknowledgement written so far (before a graceful
    /// stop pushes back what is left in the working lists).
    func confirm() throws(RedisError) {
        try lock.withLock { () throws(RedisError) in
            guard state.connection != nil || !state.unconfirmed.isEmpty else { return }
            _ = try connected(&self.state)
            try confirm(&self.state)
        }
    }

    private func write(_ command: RedisCommand, on connection: RedisConnection, _ state: inout State) throws(RedisError) {
        do {
            try connection.writeBatched(command)
        } catch {
            state.connection = nil
            throw error
        }
    }

    private func confirm(_ state: inout State) throws(RedisError) {
        guard let connection = state.connection else { return }
        do {
            try connection.endBatchedWrites()
            try connection.beginBatchedWrites()
        } catch {
            state.connection = nil
            throw error
        }
        state.unconfirmed.removeAll(keepingCapacity: true)
        state.hasUnpushed = false
    }

    /// The connection, (re)opened in batched mode, with the unconfirmed acknowledgements
    /// of a lost one written again.
    private func connected(_ state: inout State) throws(RedisError) -> RedisConnection {
        if let connection = state.connection, connection.isConnected { return connection }
        state.connection?.close()
        state.connection = nil
        let connection = try RedisConnection(configuration)
        try connection.beginBatchedWrites()
        for command in state.unconfirmed { try connection.writeBatched(command) }
        connection.pushBatched()
        state.connection = connection
        state.hasUnpushed = false
        return connection
    }

    func close() {
        lock.withLock {
            state.connection?.close()
            state.connection = nil
        }
    }
}
