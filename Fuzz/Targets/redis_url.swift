// REDIS_URL parsing. The oracle is RFC 3986, not a second parser: whatever configuration a
// URL parses to, the URL built from that configuration by the RFC's rules (user and
// password percent-encoded except unreserved characters, so an '@' or ':' in a password
// is "%40" / "%3A"; IPv6 hosts in brackets) must parse to the same configuration. And
// displayName, which goes to logs, never shows the password.

func percentEncode(_ text: String, keep: (UInt8) -> Bool) -> String {
    var out = ""
    for byte in text.utf8 {
        if keep(byte) {
            out.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}

func unreserved(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
}

func userinfo(_ c: RedisConfiguration) -> String {
    switch (c.username, c.password) {
    case (nil, nil): return ""
    case (let user?, nil): return percentEncode(user, keep: unreserved) + "@"
    case (let user, let password?): return percentEncode(user ?? "", keep: unreserved) + ":" + percentEncode(password, keep: unreserved) + "@"
    }
}

/// The RFC 3986 URL of a configuration (nil for endpoints a URL cannot name).
func render(_ c: RedisConfiguration) -> String? {
    switch c.endpoint {
    case .tcp(let host, let port):
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(userinfo(c))\(shownHost):\(port)/\(c.database)"
    case .unix(let path):
        return "unix://\(userinfo(c))\(percentEncode(path, keep: { unreserved($0) || $0 == UInt8(ascii: "/") }))?db=\(c.database)"
    case .sentinel:
        return nil
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedisURL(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let parsed = try? RedisConfiguration(url: text) else { return 0 }
    guard let url = render(parsed) else { return 0 }
    // Hosts are not percent-decoded (hiredis takes them as written), so a host that holds
    // characters RFC 3986 forbids there cannot be written back; such URLs are outside the
    // property (they still must not crash, above).
    if case .tcp(let host, _) = parsed.endpoint, host.contains(where: { "/?#@[]%".contains($0) }) || host.unicodeScalars.contains(where: { $0.value < 0x21 }) {
        return 0
    }
    let again: RedisConfiguration
    do { again = try RedisConfiguration(url: url) } catch { fatalError("invariant: the RFC 3986 URL of a parsed configuration, \(url), does not parse: \(error)") }
    guard again == parsed else { fatalError("invariant: \(text) and its RFC 3986 form \(url) parse differently:\n\(parsed)\n\(again)") }
    if let password = parsed.password, password.count >= 4 {
        var withoutPassword = parsed
        withoutPassword.password = nil
        let clean = (render(withoutPassword) ?? "") + withoutPassword.displayName
        if !clean.contains(password), parsed.displayName.contains(password) {
            fatalError("invariant: displayName shows the password: \(parsed.displayName)")
        }
    }
    return 0
}
