#if canImport(Glibc)
import Glibc
#endif

/// Delivers POSIX signals to a Swift closure on a thread of its own, using the self-pipe
/// trick: the C handler only writes the signal number to a pipe, which is safe in a
/// signal handler whatever thread the kernel picks.
public final class SignalListener: @unchecked Sendable {
    nonisolated(unsafe) private static var writeDescriptor: Int32 = -1
    private let readDescriptor: Int32

    /// Installs handlers for `signals` and calls `handler` for each one received.
    /// One listener per process.
    public init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        readDescriptor = fds[0]
        SignalListener.writeDescriptor = fds[1]
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        for signalNumber in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalListener.writeDescriptor, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signalNumber, &action, nil)
        }
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signalNumber in signals { sigaddset(&unblock, signalNumber) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let descriptor = readDescriptor
        // Without this thread no signal is ever handled: failing to start it is fatal.
        try! DetachedThread.start(name: "signals", stackSize: 256 << 10) {
            var byte: UInt8 = 0
            while true {
                let count = read(descriptor, &byte, 1)
                if count == 1 {
                    handler(Int32(byte))
                } else if count == 0 || (count < 0 && errno != EINTR) {
                    return
                }
            }
        }
    }

    public static func name(of signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "TERM"
        case SIGINT: return "INT"
        case SIGTSTP: return "TSTP"
        case SIGTTIN: return "TTIN"
        case SIGUSR1: return "USR1"
        case SIGUSR2: return "USR2"
        case SIGHUP: return "HUP"
        case SIGQUIT: return "QUIT"
        case SIGCHLD: return "CHLD"
        default: return "SIG\(signal)"
        }
    }
}
