import ConveyorPlatform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Waits on `lock` (held by the caller) until `ready()` or about `limit` has passed.
func wait(on lock: ConditionLock, upTo limit: Duration = .seconds(5), until ready: () -> Bool) {
    let deadline = ContinuousClock.now + limit
    while !ready() && ContinuousClock.now < deadline { lock.wait(timeout: .milliseconds(100)) }
}

@Suite("Threads, locks and sleeping without Foundation")
struct ThreadingTests {
    @Test("a detached thread runs its body and can be woken through a condition")
    func detachedThreadSignals() throws {
        let lock = ConditionLock()
        nonisolated(unsafe) var done = false
        try DetachedThread.start(name: "test-thread") {
            lock.withLock {
                done = true
                lock.signal()
            }
        }
        lock.lock()
        wait(on: lock, until: { done })
        let finished = done
        lock.unlock()
        #expect(finished)
    }

    @Test("a timed wait that nobody signals returns false after about its timeout")
    func timedWaitTimesOut() {
        let lock = ConditionLock()
        let start = ContinuousClock.now
        lock.lock()
        let signalled = lock.wait(timeout: .milliseconds(50))
        lock.unlock()
        let elapsed = ContinuousClock.now - start
        #expect(!signalled)
        #expect(elapsed >= .milliseconds(45))
    }

    @Test("the thread gets its name (truncated to Linux's 15 bytes)")
    func threadName() throws {
        let lock = ConditionLock()
        nonisolated(unsafe) var name = ""
        try DetachedThread.start(name: "a-very-long-thread-name") {
            let comm = SmallFile.contents(of: "/proc/thread-self/comm")?.trimmed() ?? "?"
            lock.withLock {
                name = comm
                lock.signal()
            }
        }
        lock.lock()
        wait(on: lock, until: { !name.isEmpty })
        let seen = name
        lock.unlock()
        #expect(seen == "a-very-long-thr")
    }

    @Test("blockingSleep waits at least the duration; zero and negative return at once")
    func sleeping() {
        let start = ContinuousClock.now
        blockingSleep(.milliseconds(30))
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        let quick = ContinuousClock.now
        blockingSleep(seconds: -1)
        blockingSleep(seconds: .nan)
        #expect(ContinuousClock.now - quick < .milliseconds(30))
    }
}

@Suite("Text helpers without Foundation")
struct TextHelperTests {
    @Test("cFormat formats like printf, including long results")
    func cFormat() {
        #expect(String(cFormat: "%.1f s", 1.25) == "1.2 s")
        #expect(String(cFormat: "%5.1f%%", 7.0) == "  7.0%")
        #expect(String(cFormat: "%.3f", 0.0004) == "0.000")
        let long = String(cFormat: "%0200d", 7)
        #expect(long.count == 200)
        #expect(long.hasSuffix("7"))
    }

    @Test("trimmed drops whitespace, or the characters asked for, at both ends only")
    func trimming() {
        #expect("  a b \n".trimmed() == "a b")
        #expect("   ".trimmed() == "")
        #expect("[::1]".trimmed(where: { "[]".contains($0) }) == "::1")
        #expect("/4/".trimmed(where: { $0 == "/" }) == "4")
    }
}

@Suite("Writing to descriptors")
struct WriteAllTests {
    @Test("writeAll delivers every byte through a pipe smaller than the payload")
    func wholePayload() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reader = fds[0]
        let lock = ConditionLock()
        nonisolated(unsafe) var received: [UInt8] = []
        nonisolated(unsafe) var done = false
        try DetachedThread.start(name: "pipe-reader") {
            var chunk = [UInt8](repeating: 0, count: 8192)
            var all: [UInt8] = []
            while true {
                let count = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                all += chunk[..<count]
            }
            lock.withLock {
                received = all
                done = true
                lock.signal()
            }
        }
        payload.withUnsafeBytes { writeAll(fds[1], $0) }
        close(fds[1])
        lock.lock()
        wait(on: lock, upTo: .seconds(10), until: { done })
        let bytes = received
        lock.unlock()
        close(reader)
        #expect(bytes == payload)
    }
}

@Suite("Process facts without Foundation")
struct ProcessFactTests {
    @Test("the environment matches getenv, and a variable set now is seen")
    func environment() {
        setenv("CONVEYOR_PLATFORM_TEST", "a=b", 1)
        #expect(ProcessEnvironment["CONVEYOR_PLATFORM_TEST"] == "a=b")
        #expect(ProcessEnvironment.current["CONVEYOR_PLATFORM_TEST"] == "a=b")
        #expect(ProcessEnvironment.current["PATH"] == String(cString: getenv("PATH")))
        unsetenv("CONVEYOR_PLATFORM_TEST")
        #expect(ProcessEnvironment["CONVEYOR_PLATFORM_TEST"] == nil)
    }

    @Test("small files are read whole; missing ones give nil")
    func smallFiles() {
        let status = SmallFile.contents(of: "/proc/self/status")
        #expect(status?.contains("VmRSS:") == true)
        #expect(ProcessFacts.residentKilobytes() > 0)
        #expect(SmallFile.contents(of: "/nonexistent/conveyor") == nil)
    }

    @Test("the running executable is found through /proc/self/exe")
    func executable() {
        let path = ProcessSupervisor.currentExecutable
        #expect(path.hasPrefix("/"))
        #expect(access(path, X_OK) == 0)
    }

    @Test("a program is located next to an executable first, then on PATH")
    func locate() {
        #expect(ProgramReplacement.locate("sh", besides: "/bin/conveyor") == "/bin/sh")
        #expect(ProgramReplacement.locate("ls", besides: "/nonexistent/conveyor")?.hasSuffix("/ls") == true)
        #expect(ProgramReplacement.locate("conveyor-no-such-program", besides: "/bin/conveyor") == nil)
    }
}
