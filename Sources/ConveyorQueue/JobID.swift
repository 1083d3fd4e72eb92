/// Sidekiq job ids: 24 lower-case hex characters (12 random bytes).
public enum JobID {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    public static func make<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        return String(unsafeUninitializedCapacity: 24) { buffer in
            for i in 0..<16 { buffer[i] = hex[Int((a >> (UInt64(i) * 4)) & 0xF)] }
            for i in 0..<8 { buffer[16 + i] = hex[Int((b >> (UInt64(i) * 4)) & 0xF)] }
            return 24
        }
    }

    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 24 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
