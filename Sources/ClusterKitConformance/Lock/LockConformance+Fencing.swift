import ClusterKit

extension LockConformance {
    /// Checklist items 8-9: fencing tokens and mutual exclusion under contention.
    static let fencingCases: [LockCase] = [
        LockCase("lock.fencing-increases", "fencing tokens strictly increase over acquisitions of a key from any node, by release, expiry or hand-over") { context in
            let nodes = try await context.makeNodes(3)
            var tokens: [UInt64] = []
            for round in 0..<9 {
                let node = nodes[round % nodes.count]
                let lease = try await node.acquire("fenced", ttl: LockCheck.longTTL, timeout: .seconds(2))
                tokens.append(lease.fencingToken)
                try check(try await node.release(lease), "release in round \(round) returned false")
            }
            // Freed by expiry rather than release.
            let expiring = try await nodes[0].acquire("fenced", ttl: .milliseconds(200), timeout: .seconds(2))
            tokens.append(expiring.fencingToken)
            let afterExpiry = try await LockCheck.waitUntilFree("fenced", observer: nodes[1], "a lock with a 200 ms TTL")
            tokens.append(afterExpiry.fencingToken)
            // Handed to a waiting caller.
            let waiter = Task { try await nodes[2].acquire("fenced", ttl: LockCheck.longTTL, timeout: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(50))
            try check(try await nodes[1].release(afterExpiry), "release before the hand-over returned false")
            let handedOver = try await waiter.value
            tokens.append(handedOver.fencingToken)
            try check(try await nodes[2].release(handedOver), "release after the hand-over returned false")

            for (earlier, later) in zip(tokens, tokens.dropFirst()) where later <= earlier {
                throw ConformanceFailure("fencing tokens must strictly increase per key across nodes, got \(tokens)")
            }
        },

        LockCase("lock.mutual-exclusion", "nodes × tasks incrementing a counter non-atomically under the lock lose no update and never overlap",
                 timeout: .seconds(60)) { context in
            let nodeCount = 3, tasksPerNode = 4, roundsPerTask = 3
            let nodes = try await context.makeNodes(nodeCount)
            let counter = UnprotectedCounter()
            let occupancy = Occupancy()
            let order = Collector<UInt64>()
            let inside: @Sendable (LockLease) async throws -> Void = { lease in
                occupancy.enter()
                defer { occupancy.leave() }
                order.append(lease.fencingToken)
                let value = counter.read()
                try await Task.sleep(for: .milliseconds(1)) // let others run between read and write
                counter.write(value + 1)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (nodeIndex, node) in nodes.enumerated() {
                    for task in 0..<tasksPerNode {
                        group.addTask {
                            for _ in 0..<roundsPerTask {
                                if (nodeIndex + task).isMultiple(of: 2) {
                                    try await node.withLock("counter", ttl: .seconds(10), timeout: .seconds(45), inside)
                                } else {
                                    let lease = try await node.acquire("counter", ttl: .seconds(10), timeout: .seconds(45))
                                    do {
                                        try await inside(lease)
                                    } catch {
                                        _ = try? await node.release(lease)
                                        throw error
                                    }
                                    try check(try await node.release(lease), "release after an increment returned false")
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let expected = nodeCount * tasksPerNode * roundsPerTask
            try checkEqual(counter.read(), expected, "the counter after \(expected) locked increments")
            try checkEqual(occupancy.maximum, 1, "the most holders inside the critical section at once")
            let tokens = order.values
            for (earlier, later) in zip(tokens, tokens.dropFirst()) where later <= earlier {
                throw ConformanceFailure("fencing tokens in the order holders entered must strictly increase, got \(tokens)")
            }
        },
    ]
}
