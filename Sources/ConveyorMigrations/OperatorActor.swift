#if canImport(Glibc)
import Glibc
#endif
import ConveyorPlatform

/// Who did an operator action: the OS user for the CLI; the HTTP user (Basic
/// authentication's user name, or "anonymous") and the client's address for the web.
public struct OperatorActor: Sendable, Equatable {
    public var user: String
    public var remoteAddress: String?
    /// "cli" or "web".
    public var via: String

    public init(user: String, remoteAddress: String? = nil, via: String) {
        self.user = user
        self.remoteAddress = remoteAddress
        self.via = via
    }

    /// The user running this process: its login name from the password database, else
    /// `$USER`, else the numeric uid.
    public static func currentOSUser() -> OperatorActor {
        var name: String?
        #if canImport(Glibc)
        if let entry = getpwuid(geteuid()), let pointer = entry.pointee.pw_name { name = String(cString: pointer) }
        #endif
        if name == nil || name?.isEmpty == true { name = ProcessEnvironment["USER"] }
        #if canImport(Glibc)
        let fallback = "uid \(geteuid())"
        #else
        let fallback = "unknown"
        #endif
        return OperatorActor(user: name ?? fallback, via: "cli")
    }

    /// "alice (web, 127.0.0.1)", "root (cli)".
    public var label: String {
        "\(user) (\(via)\(remoteAddress.map { ", " + $0 } ?? ""))"
    }
}
