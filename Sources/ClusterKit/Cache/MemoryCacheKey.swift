import Foundation

/// The identity of one memory cache entry: `APP_NAME`, cache name and key, compared as
/// UTF-8 bytes (like Redis compares keys), with its hash computed once per operation.
///
/// The parts are kept as the caller's `String`s (no copy into a byte array: a `get` allocates
/// nothing); equality never uses `String ==`, which would merge canonically equivalent but
/// differently encoded text ("é" and "e" + U+0301), but compares the bytes.
///
/// The hash is SipHash (``MemoryCacheHasher``, randomly keyed per process, so keys chosen by
/// an attacker cannot be made to collide) over the app's length and bytes followed by the
/// key's bytes, XORed with the cache name's own SipHash (``CacheName`` computes it once, the
/// node hashes its app once): per operation only the key's bytes are hashed. The XOR with a
/// constant per cache keeps the keys of one cache exactly as spread as SipHash makes them;
/// equality never relies on the hash.
struct MemoryCacheKey: Sendable {
    let app: String
    let cache: String
    let key: String
    let hash: Int

    /// The entry `key` of the named cache of `app`, whose ``hash(validating:cacheHash:appHasher:)`` is
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
        // Whole words, the last one zero-padded: with the length first, the key's bytes
        // that follow always start at a word boundary after a decodable prefix.
        for start in stride(from: 0, to: app.utf8.count, by: 8) {
            var word: UInt64 = 0
            for (index, byte) in app.utf8.dropFirst(start).prefix(8).enumerated() {
                word |= UInt64(byte) &<< UInt64(8 * index)
            }
            hasher.combine(word)
        }
        return hasher
    }

    /// The hash of the cache name `name` (its ``CacheName`` stores it).
    static func nameHash(_ name: String) -> Int {
        guard let hash = hashBytes(of: name, from: MemoryCacheHasher()) else {
            preconditionFailure("MemoryCacheKey.nameHash: an empty or over-long name")
        }
        return hash
    }

    /// The hash of the entry (app, cache, `key`), `appHasher` being ``hasher(forApp:)`` of the
    /// app and `cacheHash` the cache's ``nameHash(_:)``; validates `key` in the same pass
    /// (``CacheKeyRules``).
    @inline(__always)
    static func hash(validating key: String, cacheHash: Int, appHasher: MemoryCacheHasher) throws(CacheError) -> Int {
        guard let keyHash = hashBytes(of: key, from: appHasher) else {
            try CacheKeyRules.validate(key)
            preconditionFailure("MemoryCacheKey: a key CacheKeyRules accepts was rejected")
        }
        return keyHash ^ cacheHash
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

    /// SipHash of `text`'s UTF-8 bytes continuing from `hasher`, or `nil` when `text` is empty
    /// or longer than ``CacheKeyRules/maximumKeyLength`` bytes (the same rule as
    /// ``CacheKeyRules/validate(_:)``, checked here to read the length once).
    @inline(__always)
    private static func hashBytes(of text: String, from hasher: MemoryCacheHasher) -> Int? {
        if let hash = text.utf8.withContiguousStorageIfAvailable({ hashBytes(UnsafeRawBufferPointer($0), from: hasher) }) {
            return hash
        }
        return Array(text.utf8).withUnsafeBytes { hashBytes($0, from: hasher) }
    }

    @inline(__always)
    private static func hashBytes(_ bytes: UnsafeRawBufferPointer, from start: MemoryCacheHasher) -> Int? {
        guard bytes.count > 0, bytes.count <= CacheKeyRules.maximumKeyLength else { return nil }
        var hasher = start
        var offset = 0
        while offset + 8 <= bytes.count {
            hasher.combine(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            tail |= UInt64(bytes[offset]) &<< shift
            shift &+= 8
            offset += 1
        }
        return hasher.finalize(tail: tail, tailCount: Int(shift / 8))
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
