/// SipHash-1-3 over 64-bit words, keyed once per process with random bits: the function
/// Swift's `Hasher` computes, written out here so that hashing a key's few words inlines into
/// the lookup (each call into `Hasher` costs more than the SipHash round it runs: callgrind,
/// ~360 → ~150 instructions per `get`). Keyed and random like `Hasher`, so keys chosen by an
/// attacker cannot be made to collide.
///
/// Whole words are fed with ``combine(_:)``; ``finalize(tail:tailCount:)`` takes the last
/// 0–7 bytes and adds the message length byte, as SipHash's final block does.
struct MemoryCacheHasher: Sendable {
    private var v0: UInt64
    private var v1: UInt64
    private var v2: UInt64
    private var v3: UInt64
    private var words: UInt64 = 0

    /// The process-wide random key.
    private static let key: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()

    init() {
        let (k0, k1) = Self.key
        v0 = 0x736f_6d65_7073_6575 ^ k0
        v1 = 0x646f_7261_6e64_6f6d ^ k1
        v2 = 0x6c79_6765_6e65_7261 ^ k0
        v3 = 0x7465_6462_7974_6573 ^ k1
    }

    @inline(__always)
    mutating func combine(_ word: UInt64) {
        v3 ^= word
        round()
        v0 ^= word
        words &+= 1
    }

    /// The hash of the words fed so far followed by `tailCount` (0...7) more bytes, held in
    /// the low bytes of `tail` (the rest zero): SipHash's final block, the tail bytes with the
    /// message length (mod 256) in the top byte.
    @inline(__always)
    mutating func finalize(tail: UInt64 = 0, tailCount: Int = 0) -> Int {
        let last = tail | ((words &* 8 &+ UInt64(truncatingIfNeeded: tailCount)) &<< 56)
        v3 ^= last
        round()
        v0 ^= last
        v2 ^= 0xFF
        round()
        round()
        round()
        return Int(truncatingIfNeeded: v0 ^ v1 ^ v2 ^ v3)
    }

    @inline(__always)
    private mutating func round() {
        v0 = v0 &+ v1
        v1 = rotate(v1, 13)
        v1 ^= v0
        v0 = rotate(v0, 32)
        v2 = v2 &+ v3
        v3 = rotate(v3, 16)
        v3 ^= v2
        v0 = v0 &+ v3
        v3 = rotate(v3, 21)
        v3 ^= v0
        v2 = v2 &+ v1
        v1 = rotate(v1, 17)
        v1 ^= v2
        v2 = rotate(v2, 32)
    }

    @inline(__always)
    private func rotate(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value &<< amount) | (value &>> (64 &- amount))
    }
}
