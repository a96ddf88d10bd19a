import ClusterKit

extension LockConformance {
    /// Checklist item 11: unusual keys, key and TTL validation, app namespaces.
    static let keyCases: [LockCase] = [
        LockCase("lock.unusual-keys", "keys with Unicode, ':', spaces, glob characters and 1 KiB work and stay distinct") { context in
            let nodes = try await context.makeNodes(2)
            let (a, b) = (nodes[0], nodes[1])
            let keys = [
                "ключ-🔒-鍵", "a:b:c", "a", "a:", ":", "with spaces and\ttab", "*?[x]{y}", "line\nbreak",
                String(repeating: "k", count: LockKeyRules.maximumKeyLength),
                String(repeating: "é", count: LockKeyRules.maximumKeyLength / 2),
            ]
            // All held at once: none may collide with another.
            var leases: [LockLease] = []
            for key in keys {
                guard let lease = try await a.tryAcquire(key, ttl: LockCheck.longTTL) else {
                    throw ConformanceFailure("tryAcquire of key \(key.debugDescription.prefix(40)) got nothing although no other key is equal")
                }
                try checkEqual(lease.key, key, "the lease's key")
                leases.append(lease)
            }
            for key in keys {
                try await LockCheck.expectHeld(key, observer: b, "key \(key.debugDescription.prefix(40)) held from another node")
            }
            for lease in leases {
                try check(try await a.release(lease), "release of key \(lease.key.debugDescription.prefix(40)) returned false")
            }
            for key in keys {
                let lease = try await LockCheck.expectFree(key, observer: b, "key \(key.debugDescription.prefix(40)) after release")
                try check(try await b.release(lease), "second release of key \(key.debugDescription.prefix(40)) returned false")
            }
        },

        LockCase("lock.invalid-arguments", "empty or over-long keys fail with invalidKey, non-positive TTLs with invalidTTL") { context in
            let node = try await context.makeNode()
            let tooLong = String(repeating: "é", count: LockKeyRules.maximumKeyLength / 2) + "x"
            for (key, label) in [("", "an empty key"), (tooLong, "a key of \(tooLong.utf8.count) UTF-8 bytes")] {
                try await checkThrows(LockError.self, "tryAcquire with \(label)", where: { $0.code == .invalidKey }) {
                    try await node.tryAcquire(key, ttl: LockCheck.longTTL)
                }
                try await checkThrows(LockError.self, "acquire with \(label)", where: { $0.code == .invalidKey }) {
                    try await node.acquire(key, ttl: LockCheck.longTTL, timeout: .seconds(1))
                }
            }
            for ttl in [Duration.zero, .milliseconds(-5)] {
                try await checkThrows(LockError.self, "tryAcquire with TTL \(ttl)", where: { $0.code == .invalidTTL }) {
                    try await node.tryAcquire("k", ttl: ttl)
                }
            }
            let lease = try await node.acquire("k", ttl: LockCheck.longTTL, timeout: .seconds(1))
            try await checkThrows(LockError.self, "extend with TTL 0", where: { $0.code == .invalidTTL }) {
                try await node.extend(lease, ttl: .zero)
            }
            try check(try await node.release(lease), "release after a refused extension returned false")
        },

        LockCase("lock.namespaces-isolated", "the same key in two apps is two locks, and one app cannot release the other's") { context in
            let mine = try await context.makeNode()
            let sameApp = try await context.makeNode()
            let other = try await context.makeNode(appName: context.otherAppName())
            let lease = try await mine.acquire("shared-name", ttl: LockCheck.longTTL, timeout: .seconds(2))
            guard let otherLease = try await other.tryAcquire("shared-name", ttl: LockCheck.longTTL) else {
                throw ConformanceFailure("another app could not take 'shared-name' while this app held its own 'shared-name'")
            }
            try check(!(try await other.release(lease)), "a node of another app released this app's lock")
            try check(!(try await other.extend(lease, ttl: LockCheck.longTTL)), "a node of another app extended this app's lock")
            try await LockCheck.expectHeld("shared-name", observer: sameApp, "after another app's release attempt")
            try check(try await other.release(otherLease), "the other app's release of its own lock returned false")
            try await LockCheck.expectHeld("shared-name", observer: sameApp, "after the other app released its own lock")
            try check(try await mine.release(lease), "release by this app returned false")
        },
    ]
}
