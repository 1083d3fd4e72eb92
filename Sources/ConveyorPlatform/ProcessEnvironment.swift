#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's environment variables, read from `environ` (Foundation's ProcessInfo
/// would load its URL, locale and file machinery into every worker for one dictionary).
public enum ProcessEnvironment {
    public static var current: [String: String] {
        var result: [String: String] = [:]
        #if canImport(Glibc)
        var cursor = environ
        #else
        guard var cursor = _NSGetEnviron()?.pointee else { return [:] }
        #endif
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                if result[name] == nil { result[name] = String(text[text.index(after: equals)...]) }
            }
            cursor += 1
        }
        return result
    }

    /// One variable, or nil when unset.
    public static subscript(name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
