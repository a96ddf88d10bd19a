import ClusterKit

extension WorkerIDConformance {
    static let allocationCases: [ConformanceCase<any WorkerIDAllocator>] = [
        ConformanceCase("workerid.distinct-concurrent",
                        "N nodes leasing at once get N distinct IDs: the N lowest of the range") { context in
            let probe = try await context.makeNode()
            let count = min(8, probe.range.count)
            let nodes = try await context.makeNodes(count)
            let tokens = try await withThrowingTaskGroup(of: WorkerIDLeaseToken.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask { try await lease(node, "node \(index)") }
                }
                var tokens: [WorkerIDLeaseToken] = []
                for try await token in group { tokens.append(token) }
                return tokens
            }
            for token in tokens { try checkInRange(token, probe, "concurrent lease") }
            let ids = tokens.map(\.workerID).sorted()
            try check(Set(ids).count == count, "\(count) nodes leasing concurrently got duplicate IDs: \(ids)")
            let lowest = Array(probe.range.lowerBound..<(probe.range.lowerBound + count))
            try checkEqual(ids, lowest, "IDs leased by \(count) nodes in a fresh app (lowest free first)")
        },

        ConformanceCase("workerid.exhaustion",
                        "leasing every ID of the range, the next lease fails with `exhausted` naming range and live leases; after one release it succeeds") { context in
            let nodes = try await context.makeNodes(4)
            let range = nodes[0].range
            try check(range.count <= maximumRangeSize,
                      "the conformance target's range \(range) is too large for this case (at most \(maximumRangeSize) IDs)")
            var tokens: [WorkerIDLeaseToken] = []
            for index in 0..<range.count {
                let token = try await lease(nodes[index % nodes.count], "lease \(index + 1) of \(range.count)")
                try checkInRange(token, nodes[0], "lease \(index + 1)")
                tokens.append(token)
            }
            try checkEqual(tokens.map(\.workerID).sorted(), Array(range), "IDs after leasing the whole range")
            for (index, node) in nodes.enumerated() {
                try await checkThrows(WorkerIDError.self, "lease number \(range.count + 1) (node \(index)) with the range full",
                                      where: { $0.code == .exhausted }) { try await node.lease() }
            }
            do {
                let token = try await nodes[1].lease()
                throw ConformanceFailure("a lease with the range full succeeded: \(token)")
            } catch let error as WorkerIDError {
                let text = error.message
                try check(text.contains("\(range.upperBound)") && text.contains("\(range.count)"),
                          "the exhaustion error must name the range \(range) and the \(range.count) live leases; it says: \(text)")
            }
            let freed = tokens[tokens.count / 2]
            try await nodes[(tokens.count / 2) % nodes.count].release(freed)
            let again = try await lease(nodes[3], "lease after one release")
            try checkEqual(again.workerID, freed.workerID, "ID leased after releasing ID \(freed.workerID) of a full range")
            try await checkThrows(WorkerIDError.self, "lease with the range full again", where: { $0.code == .exhausted }) {
                try await nodes[0].lease()
            }
        },

        ConformanceCase("workerid.zero-is-valid",
                        "the first lease of a fresh app is the range's lowest ID (0), which renews and releases like any other") { context in
            let (a, b) = (try await context.makeNode(), try await context.makeNode())
            try checkEqual(a.range.lowerBound, 0, "the range's lowest ID")
            let first = try await lease(a, "first lease")
            try checkEqual(first.workerID, 0, "first ID leased in a fresh app")
            try check(try await a.renew(first), "renewing the lease on ID 0 returned false")
            let second = try await lease(b, "second lease")
            try check(second.workerID != 0, "a second node got ID 0, which the first node holds")
            try await a.release(first)
            let third = try await lease(b, "lease after releasing ID 0")
            try checkEqual(third.workerID, 0, "ID leased after ID 0 was released")
        },

        ConformanceCase("workerid.release-frees",
                        "a released ID can be leased by another node; the released lease no longer renews") { context in
            let (a, b) = (try await context.makeNode(), try await context.makeNode())
            let held = try await lease(a, "node A")
            try await a.release(held)
            try check(!(try await a.renew(held)), "renewing a released lease returned true")
            let taken = try await lease(b, "node B after A released")
            try checkEqual(taken.workerID, held.workerID, "ID node B leased after node A released its ID")
        },

        ConformanceCase("workerid.release-idempotent",
                        "releasing twice is harmless, and releasing a stale lease never frees the ID another node now holds") { context in
            let (a, b, c) = (try await context.makeNode(), try await context.makeNode(), try await context.makeNode())
            let held = try await lease(a, "node A")
            try await a.release(held)
            do {
                try await a.release(held)
            } catch {
                throw ConformanceFailure("releasing a lease twice threw: \(error)")
            }
            let taken = try await lease(b, "node B")
            try checkEqual(taken.workerID, held.workerID, "ID node B leased after node A released")
            try await a.release(held)
            try check(try await b.renew(taken), "node B's lease was lost after node A released its stale lease on the same ID")
            let other = try await lease(c, "node C")
            try check(other.workerID != taken.workerID,
                      "node C got ID \(other.workerID), still held by node B: releasing a stale lease freed another node's ID")
        },

        ConformanceCase("workerid.expiry-frees-id",
                        "a lease not renewed within the TTL expires: another node takes the ID and the old lease no longer renews") { context in
            let (a, b, c) = (try await context.makeNode(), try await context.makeNode(), try await context.makeNode())
            let ttl = try shortTTL(of: a)
            let held = try await lease(a, "node A")
            try await Task.sleep(for: expiryWait(ttl))
            let taken = try await lease(b, "node B after node A's lease expired")
            try checkEqual(taken.workerID, held.workerID, "ID node B leased after node A's lease (TTL \(ttl)) expired")
            try check(!(try await a.renew(held)), "node A renewed its expired lease on an ID node B now holds")
            try check(try await b.renew(taken), "node B could not renew its fresh lease")
            try await a.release(held)
            let other = try await lease(c, "node C")
            try check(other.workerID != taken.workerID, "releasing node A's expired lease freed node B's ID \(taken.workerID)")
        },

        ConformanceCase("workerid.renew-after-expiry-fails",
                        "renewing an expired lease returns false even when nobody took the ID, and does not revive it") { context in
            let (a, b) = (try await context.makeNode(), try await context.makeNode())
            let ttl = try shortTTL(of: a)
            let held = try await lease(a, "node A")
            try await Task.sleep(for: expiryWait(ttl))
            try check(!(try await a.renew(held)), "renewing a lease \(expiryWait(ttl)) after it was taken (TTL \(ttl)) returned true")
            let taken = try await lease(b, "node B")
            try checkEqual(taken.workerID, held.workerID, "ID node B leased after node A's failed renewal")
        },

        ConformanceCase("workerid.renewal-keeps-id",
                        "a lease renewed every TTL/3 keeps its ID past several TTLs; other nodes get other IDs") { context in
            let (a, b) = (try await context.makeNode(), try await context.makeNode())
            let ttl = try shortTTL(of: a)
            let held = try await lease(a, "node A")
            let clock = ContinuousClock()
            let end = clock.now + ttl * 3.5
            var renewals = 0
            while clock.now < end {
                try await Task.sleep(for: ttl / 3)
                renewals += 1
                try check(try await a.renew(held), "renewal \(renewals) (every \(ttl / 3), TTL \(ttl)) returned false")
            }
            let other = try await lease(b, "node B after \(renewals) renewals")
            try check(other.workerID != held.workerID, "node B got ID \(held.workerID), which node A kept renewing")
        },

        ConformanceCase("workerid.apps-isolated",
                        "apps sharing a backend have separate pools: both get the lowest ID") { context in
            let a = try await context.makeNode()
            let b = try await context.makeNode(appName: context.otherAppName())
            let first = try await lease(a, "node of app \(context.appName)")
            let second = try await lease(b, "node of app \(context.otherAppName())")
            try checkEqual(first.workerID, a.range.lowerBound, "first ID of the first app")
            try checkEqual(second.workerID, b.range.lowerBound, "first ID of another app on the same backend")
        },
    ]
}
