import ConveyorRedis
import Testing

/// FIPS 180-2 appendix A / RFC 3174 section 7.3 test vectors, plus padding edges.
@Suite("SHA1 test vectors")
struct SHA1Tests {
    @Test("\"abc\" (FIPS 180-2 A.1, RFC 3174 TEST1)")
    func abc() {
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test("the empty message")
    func empty() {
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    @Test("the 448-bit message (FIPS 180-2 A.2, RFC 3174 TEST2): two blocks after padding")
    func twoBlocks() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(message.utf8.count * 8 == 448)
        #expect(SHA1.hexDigest(Array(message.utf8)) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    @Test("one million 'a' (FIPS 180-2 A.3, RFC 3174 TEST3)")
    func millionA() {
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test("RFC 3174 TEST4: 80 repetitions of \"01234567\" (exactly ten blocks)")
    func tenBlocks() {
        let message = [UInt8](String(repeating: "0123456701234567012345670123456701234567012345670123456701234567", count: 10).utf8)
        #expect(message.count == 640)
        #expect(SHA1.hexDigest(message) == "dea356a2cddd90c7a7ecedc5ebb563934f460452")
    }

    @Test("the digest Redis reports for a script (SCRIPT LOAD of \"return 1\")")
    func redisScriptID() {
        #expect(SHA1.hexDigest(Array("return 1".utf8)) == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test("padding edges: 55, 56 and 64 bytes agree with known digests")
    func paddingEdges() {
        // 55 bytes: the length still fits in the first block; 56: it does not.
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 55)) == "c1c8bbdc22796e28c0e15163d20899b65621d65a")
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 56)) == "c2db330f6083854c99d4b5bfb6e8f29f201be699")
        #expect(SHA1.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 64)) == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }
}
