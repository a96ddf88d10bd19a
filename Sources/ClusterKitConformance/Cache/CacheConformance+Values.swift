import ClusterKit

/// Checklist items 1–5: round trips, type fidelity, value isolation, delete, add.
extension CacheConformance {
    static let valueCases: [CacheCase] = [
        CacheCase("cache.round-trip", "A missing key reads nil; a stored value reads back on every node; overwrite replaces") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let cache: CacheName = "values"
            try await CacheCheck.expectValue(a, cache, "missing", nil, "get of a key never written")
            try await checkEqual(a.has(cache, "missing"), false, "has of a key never written")
            try await a.set(cache, "k", CacheCheck.bytes("first"), ttl: nil)
            try await CacheCheck.expectValue(a, cache, "k", CacheCheck.bytes("first"), "read back on the writing node")
            try await CacheCheck.expectValue(b, cache, "k", CacheCheck.bytes("first"), "read back on another node")
            try await checkEqual(b.has(cache, "k"), true, "has after set, on another node")
            try await b.set(cache, "k", CacheCheck.bytes("second, longer value"), ttl: nil)
            try await CacheCheck.expectValue(a, cache, "k", CacheCheck.bytes("second, longer value"), "overwrite from another node")
            try await a.set(cache, "k", CacheCheck.bytes("3"), ttl: nil)
            try await CacheCheck.expectValue(b, cache, "k", CacheCheck.bytes("3"), "overwrite with a shorter value")
            try await a.set(cache, "empty", [], ttl: nil)
            try await CacheCheck.expectValue(b, cache, "empty", [], "an empty value is stored, not a miss")
        },

        CacheCase("cache.typed-fidelity", "String, Int, Double, Bool, nested structs, arrays and optionals round-trip unchanged through Cache") { context in
            let cache = CacheManager(store: try await context.makeNode()).cache("typed" as CacheName)
            let reader = CacheManager(store: try await context.makeNode()).cache("typed" as CacheName)

            func roundTrip<V: Codable & Equatable & Sendable>(_ key: String, _ value: V) async throws {
                try await cache.set(key, value)
                let back = try await reader.get(key, as: V.self)
                try check(back == value, "\(V.self) at '\(key)': stored \(value), read back \(String(describing: back))")
            }

            for (index, text) in ["", "plain", "line\nbreak\t\"quoted\" \\ backslash", "emoji 👩‍👩‍👧 ünïcödé 中文", "\u{0}nul"].enumerated() {
                try await cache.set("string-\(index)", text)
                let back = try await reader.get("string-\(index)", as: String.self)
                // Compare the UTF-8 bytes: String == would accept a differently normalised text.
                try check(back.map { Array($0.utf8) } == Array(text.utf8), "String \(text.debugDescription) read back as \(String(describing: back?.debugDescription))")
            }
            for (index, number) in [0, 1, -1, 42, Int.max, Int.min].enumerated() { try await roundTrip("int-\(index)", number) }
            for (index, number) in [0.0, 0.1, -2.5, 3.141592653589793, 1e-300, 1.7976931348623157e308, -123456.789].enumerated() {
                try await roundTrip("double-\(index)", number)
            }
            try await roundTrip("bool-true", true)
            try await roundTrip("bool-false", false)
            try await roundTrip("array-int", [3, 1, 2])
            try await roundTrip("array-empty", [String]())
            try await roundTrip("array-nested", [[1.5], [], [2.5, -3.5]])
            try await roundTrip("array-optionals", [1, nil, 3] as [Int?])
            try await roundTrip("dictionary", ["a": 1, "b": 2])
            try await roundTrip("struct-full", FidelityProfile.full)
            try await roundTrip("struct-nils", FidelityProfile.withNils)
            try await roundTrip("struct-array", [FidelityProfile.full, FidelityProfile.withNils])

            // A stored nil is a present value, not a miss.
            try await cache.set("optional-nil", Int?.none)
            let storedNil = try await reader.get("optional-nil", as: Int?.self)
            try check(storedNil == .some(nil), "a stored nil Int? should read back as a present nil, got \(String(describing: storedNil))")
            try await checkEqual(reader.has("optional-nil"), true, "has of a key holding nil")
            let missing = try await reader.get("never-written", as: Int?.self)
            try check(missing == nil, "a missing key read as Int? should be nil (miss), got \(String(describing: missing))")
        },

        CacheCase("cache.raw-bytes", "All 256 byte values survive as raw bytes, in both orders") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "raw"
            let ascending = (0...255).map { UInt8($0) }
            let value = ascending + ascending.reversed() + [0, 0, 255, 0]
            try await nodes[0].set(cache, "all-bytes", value, ttl: nil)
            let back = try await nodes[1].get(cache, "all-bytes")
            try check(back == value, "the 516 raw bytes (every value 0...255) came back as \(CacheCheck.show(back)); first difference at \(firstDifference(back, value).map(String.init) ?? "length")")
            let typed = CacheManager(store: nodes[1]).cache("raw" as CacheName)
            try await typed.setBytes("typed-bytes", ascending)
            try await checkEqual(typed.getBytes("typed-bytes"), ascending, "Cache.setBytes/getBytes with all 256 values")
        },

        CacheCase("cache.unicode", "Unicode keys and values work; keys are compared as exact text (NFC and NFD forms are different keys)") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "unicode"
            let pairs = [("ключ", "значение"), ("键🔑", "值✨"), ("🇫🇷 clé", "valeur 🥐"), ("עברית", "ערך"), ("emoji 👩‍👩‍👧", "👩‍👩‍👧")]
            for (key, value) in pairs { try await nodes[0].set(cache, key, CacheCheck.bytes(value), ttl: nil) }
            for (key, value) in pairs {
                try await CacheCheck.expectValue(nodes[1], cache, key, CacheCheck.bytes(value), "Unicode key \(key)")
            }
            let composed = "caf\u{E9}"          // é as one scalar (NFC)
            let decomposed = "cafe\u{301}"      // e + combining acute (NFD)
            try await nodes[0].set(cache, composed, CacheCheck.bytes("nfc"), ttl: nil)
            try await nodes[0].set(cache, decomposed, CacheCheck.bytes("nfd"), ttl: nil)
            try await CacheCheck.expectValue(nodes[1], cache, composed, CacheCheck.bytes("nfc"), "the NFC key must not be merged with its NFD twin")
            try await CacheCheck.expectValue(nodes[1], cache, decomposed, CacheCheck.bytes("nfd"), "the NFD key must not be merged with its NFC twin")
        },

        CacheCase("cache.value-isolation", "Mutating a value after set or after get never changes the cached value") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "isolation"
            var written: [UInt8] = [1, 2, 3]
            try await nodes[0].set(cache, "raw", written, ttl: nil)
            written[0] = 99
            written.append(4)
            try await CacheCheck.expectValue(nodes[0], cache, "raw", [1, 2, 3], "after mutating the array passed to set")
            var read = try await nodes[0].get(cache, "raw") ?? []
            read[1] = 77
            read.removeLast()
            try await CacheCheck.expectValue(nodes[0], cache, "raw", [1, 2, 3], "after mutating an array returned by get")
            try await CacheCheck.expectValue(nodes[1], cache, "raw", [1, 2, 3], "another node after both mutations")

            let typed = CacheManager(store: nodes[0]).cache(cache)
            var profile = FidelityProfile.full
            try await typed.set("typed", profile)
            profile.tags.append("mutated after set")
            var back = try await typed.get("typed", as: FidelityProfile.self)
            try check(back == FidelityProfile.full, "a struct mutated after set: read back \(String(describing: back))")
            back?.previous.removeAll()
            let again = try await typed.get("typed", as: FidelityProfile.self)
            try check(again == FidelityProfile.full, "a struct mutated after get: read back \(String(describing: again))")

        },

        CacheCase("cache.delete", "delete reports whether the key existed; deleting a missing or expired key is a no-op") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "delete"
            try await checkEqual(nodes[0].delete(cache, "never"), false, "delete of a key never written")
            try await nodes[0].set(cache, "k", CacheCheck.bytes("v"), ttl: nil)
            try await nodes[0].set(cache, "other", CacheCheck.bytes("stays"), ttl: nil)
            try await checkEqual(nodes[1].delete(cache, "k"), true, "delete of an existing key (from another node)")
            try await CacheCheck.expectValue(nodes[0], cache, "k", nil, "get after delete")
            try await checkEqual(nodes[0].has(cache, "k"), false, "has after delete")
            try await checkEqual(nodes[0].delete(cache, "k"), false, "second delete of the same key")
            try await CacheCheck.expectValue(nodes[0], cache, "other", CacheCheck.bytes("stays"), "a key next to the deleted one")
            try await nodes[0].set(cache, "short", CacheCheck.bytes("v"), ttl: CacheCheck.shortTTL)
            try await CacheCheck.waitUntilMissing(nodes[0], cache, "short", "before deleting it")
            try await checkEqual(nodes[0].delete(cache, "short"), false, "delete of an expired key")
        },

        CacheCase("cache.add", "add stores only when the key is absent, and again once the key expired") { context in
            let nodes = try await context.makeNodes(2)
            let cache: CacheName = "add"
            try await checkEqual(nodes[0].add(cache, "k", CacheCheck.bytes("first"), ttl: nil), true, "add of an absent key")
            try await checkEqual(nodes[1].add(cache, "k", CacheCheck.bytes("second"), ttl: nil), false, "add of a present key (other node)")
            try await CacheCheck.expectValue(nodes[0], cache, "k", CacheCheck.bytes("first"), "value after a refused add")
            try await checkEqual(nodes[0].timeToLive(cache, "k"), .persistent, "a refused add with no TTL must not change the TTL")
            try await checkEqual(nodes[1].add(cache, "k", CacheCheck.bytes("third"), ttl: .seconds(60)), false, "add with a TTL over a present key")
            try await checkEqual(nodes[0].timeToLive(cache, "k"), .persistent, "a refused add must not set a TTL")
            try await nodes[0].delete(cache, "k")
            try await checkEqual(nodes[1].add(cache, "k", CacheCheck.bytes("after delete"), ttl: nil), true, "add after delete")
            try await CacheCheck.expectValue(nodes[0], cache, "k", CacheCheck.bytes("after delete"), "value of the add after delete")

            try await checkEqual(nodes[0].add(cache, "window", CacheCheck.bytes("one"), ttl: CacheCheck.shortTTL), true, "add with a short TTL")
            try await checkEqual(nodes[1].add(cache, "window", CacheCheck.bytes("two"), ttl: CacheCheck.shortTTL), false, "add before the first expired")
            try await CacheCheck.waitUntilMissing(nodes[0], cache, "window", "the first add")
            try await checkEqual(nodes[1].add(cache, "window", CacheCheck.bytes("three"), ttl: nil), true, "add after the key expired")
            try await CacheCheck.expectValue(nodes[0], cache, "window", CacheCheck.bytes("three"), "value of the add after expiry")
            try await checkEqual(nodes[0].timeToLive(cache, "window"), .persistent, "the add after expiry must not inherit the old TTL")

            let typed = CacheManager(store: nodes[0]).cache(cache)
            try await checkEqual(typed.add("typed", 1), true, "Cache.add of an absent key")
            try await checkEqual(typed.add("typed", 2), false, "Cache.add of a present key")
            try await checkEqual(typed.get("typed", as: Int.self), 1, "Cache.add kept the first value")
        },
    ]

    private static func firstDifference(_ lhs: [UInt8]?, _ rhs: [UInt8]) -> Int? {
        guard let lhs else { return 0 }
        return zip(lhs, rhs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    }
}

/// A nested Codable value with every kind of field.
struct FidelityProfile: Codable, Equatable, Sendable {
    struct Address: Codable, Equatable, Sendable {
        var street: String
        var zip: String?
        var coordinates: [Double]
    }

    var name: String
    var age: Int
    var score: Double
    var active: Bool
    var tags: [String]
    var nickname: String?
    var address: Address?
    var previous: [Address]
    var ratings: [String: Int]

    static let full = FidelityProfile(
        name: "Zoë 🚀", age: 42, score: 98.625, active: true, tags: ["a", "b", ""], nickname: "z",
        address: Address(street: "1 Main St", zip: "12345", coordinates: [48.8566, 2.3522]),
        previous: [Address(street: "old", zip: nil, coordinates: [])], ratings: ["x": 1, "y": -2])
    static let withNils = FidelityProfile(
        name: "", age: -1, score: -0.5, active: false, tags: [], nickname: nil, address: nil, previous: [], ratings: [:])
}
