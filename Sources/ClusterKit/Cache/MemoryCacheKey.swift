import Foundation

/// The identity of one memory cache entry: `APP_NAME`, cache name and key, compared as
/// UTF-8 bytes (like Redis compares keys), with its hash computed once per operation.
///
/// The parts are kept as the caller's `String`s (no copy into a byte array: a `get` allocates
/// nothing); equality never uses `String ==`, which would merge canonically equivalent but
/// differently encoded text ("é" and "e" + U+0301), but compares the bytes.
///
/// The hash is SipHash (``MemoryCacheHasher``, randomly keyed per process, so keys chosen by
/// an attacker cannot be made to collide) over the lengths and bytes of app, cache and key.
struct MemoryCacheKey: Sendable {
    let app: String
    let cache: String
    let key: String
    let hash: Int

    /// The entry `key` of the named cache of `app`, whose ``hash(cache:key:appHasher:)`` is
    /// `hash`.
    init(app: String, cache: String, key: String, hash: Int) {
        (self.app, self.cache, self.key, self.hash) = (app, cache, key, hash)
    }

    /// The identity of no entry (what a free table slot holds).
    static let placeholder = MemoryCacheKey(app: "", cache: "", key: "", hash: 0)

    /// A hasher that has been fed `app`: every key of the app starts from a copy of it
    /// (computed once per node).
    static func hasher(forApp app: String) -> MemoryCacheHasher {
        var hasher = MemoryCacheHasher()
        hasher.combine(UInt64(truncatingIfNeeded: app.utf8.count))
        combineWords(of: app, into: &hasher)
        return hasher
    }

    /// The hash of (app, `cache`, `key`), `appHasher` being ``hasher(forApp:)`` of the app.
    ///
    /// The hasher gets each part's UTF-8 byte count first (cache and key counts packed in one
    /// word), then its bytes as whole 64-bit words: the counts make the sequence decodable,
    /// so different triples never feed the same words.
    static func hash(cache: String, key: String, appHasher: MemoryCacheHasher) -> Int {
        var hasher = appHasher
        hasher.combine(UInt64(truncatingIfNeeded: cache.utf8.count) | UInt64(truncatingIfNeeded: key.utf8.count) << 32)
        combineWords(of: cache, into: &hasher)
        combineWords(of: key, into: &hasher)
        return hasher.finalize()
    }

    /// Whether this is the entry (`app`, `cache`, `key`) whose hash is `hash` (byte-exact on
    /// all three parts). Takes the parts, not a key: lookups build no key, whose copies
    /// would retain and release three strings.
    func matches(app: String, cache: String, key: String, hash: Int) -> Bool {
        self.hash == hash && Self.sameBytes(key, self.key) && Self.sameBytes(cache, self.cache)
            && Self.sameBytes(app, self.app)
    }

    /// Whether this entry belongs to the namespace (`app`, `cache`).
    func isIn(app: String, cache: String) -> Bool {
        Self.sameBytes(cache, self.cache) && Self.sameBytes(app, self.app)
    }

    // MARK: Bytes

    /// Feeds `text`'s UTF-8 bytes as 64-bit words, the last one zero-padded.
    private static func combineWords(of text: String, into hasher: inout MemoryCacheHasher) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { combineWords(UnsafeRawBufferPointer($0), into: &hasher) }
        if done == nil {
            Array(text.utf8).withUnsafeBytes { combineWords($0, into: &hasher) }
        }
    }

    private static func combineWords(_ bytes: UnsafeRawBufferPointer, into hasher: inout MemoryCacheHasher) {
        var offset = 0
        while offset + 8 <= bytes.count {
            hasher.combine(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        guard offset < bytes.count else { return }
        var last: UInt64 = 0
        withUnsafeMutableBytes(of: &last) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
        hasher.combine(last)
    }

    /// UTF-8 byte equality (`String ==` is canonical equivalence, not byte equality).
    @inline(__always)
    static func sameBytes(_ first: String, _ second: String) -> Bool {
        // Fast path: two strings with the same representation (the same small-string bits,
        // or the same storage and length) hold the same bytes. Strings are immutable values,
        // so this holds whatever the layout; it spares the byte comparison whenever the key
        // was stored from the same string, and for the short strings (up to 15 bytes) that
        // Swift stores inline. Different representations fall through to the bytes.
        if MemoryLayout<String>.size == 2 * MemoryLayout<UInt>.size,
           unsafeBitCast(first, to: (UInt, UInt).self) == unsafeBitCast(second, to: (UInt, UInt).self) {
            return true
        }
        return sameBytesCompared(first, second)
    }

    private static func sameBytesCompared(_ first: String, _ second: String) -> Bool {
        guard first.utf8.count == second.utf8.count else { return false }
        let equal: Bool? = first.utf8.withContiguousStorageIfAvailable { a in
            second.utf8.withContiguousStorageIfAvailable { b in
                a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
            }
        } ?? nil
        return equal ?? first.utf8.elementsEqual(second.utf8)
    }
}
