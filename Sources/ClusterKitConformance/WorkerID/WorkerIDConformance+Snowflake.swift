import ClusterKit

extension WorkerIDConformance {
    static let snowflakeCases: [ConformanceCase<any WorkerIDAllocator>] = [
        ConformanceCase("workerid.snowflake-increasing",
                        "snowflake IDs issued under a leased worker ID strictly increase") { context in
            let node = try await context.makeNode()
            let token = try await lease(node, "node")
            let generator = SnowflakeGenerator(layout: try millisecondLayout(for: node), workerID: { token.workerID })
            var previous = Int64.min
            for index in 0..<20_000 {
                let id = try await generator.next()
                try check(id > previous, "ID \(index) (\(id)) is not greater than the one before (\(previous))")
                previous = id
            }
        },

        ConformanceCase("workerid.snowflake-parse",
                        "parse(next()) gives the leased worker ID and a timestamp within a second of now (NocoBase and millisecond layouts)") { context in
            let node = try await context.makeNode()
            let token = try await lease(node, "node")
            for layout in [try secondLayout(for: token.workerID), try millisecondLayout(for: node)] {
                let generator = SnowflakeGenerator(layout: layout, workerID: { token.workerID })
                let id = try await generator.next()
                let now = SnowflakeGenerator.systemMilliseconds()
                let parts = generator.parse(id)
                try checkEqual(parts.workerID, token.workerID, "worker ID parsed from \(id) (\(layout))")
                try check(parts.timestamp <= now + 50 && parts.timestamp >= now - 1_050,
                          "timestamp parsed from \(id) is \(parts.timestamp) ms, \(now - parts.timestamp) ms before now (\(layout))")
                try checkEqual(parts, layout.parse(id), "generator.parse and layout.parse of \(id)")
            }
        },

        ConformanceCase("workerid.snowflake-sequence-overflow-waits",
                        "65,536 IDs in one second use up the NocoBase sequence; the next ID waits for the next second; no duplicates") { context in
            let node = try await context.makeNode()
            let token = try await lease(node, "node")
            let layout = try secondLayout(for: token.workerID)
            let clock = VirtualWallClock(milliseconds: 1_700_000_000_250)
            let generator = clock.generator(layout: layout, workerID: token.workerID)
            let perSecond = layout.maximumSequence + 1
            var ids: [Int64] = []
            ids.reserveCapacity(perSecond + 1)
            for _ in 0..<perSecond { ids.append(try await generator.next()) }
            let sleepsBefore = clock.sleeps.count
            let first = layout.parse(ids[0])
            let last = layout.parse(ids[perSecond - 1])
            try checkEqual(last.timestamp, first.timestamp, "timestamp of ID \(perSecond) vs the first (the clock did not move)")
            try checkEqual(last.sequence, perSecond - 1, "sequence of ID \(perSecond)")
            ids.append(try await generator.next())
            try check(clock.sleeps.count > sleepsBefore, "ID \(perSecond + 1) in one second was issued without waiting")
            let overflow = layout.parse(ids[perSecond])
            try checkEqual(overflow.timestamp, first.timestamp + 1000, "timestamp of the ID after the sequence ran out")
            try checkEqual(overflow.sequence, 0, "sequence of the ID after the sequence ran out")
            try checkStrictlyIncreasing(ids, "IDs around a sequence overflow")
        },

        ConformanceCase("workerid.snowflake-clock-backwards",
                        "a clock moved backwards never yields a duplicate: the generator waits (bounded) or fails with clockMovedBackwards") { context in
            let node = try await context.makeNode()
            let token = try await lease(node, "node")
            // 16 IDs per millisecond, so the sequence runs out quickly.
            let layout = try SnowflakeLayout.milliseconds(workerBits: workerBits(for: node.range.upperBound), sequenceBits: 4)
            let start: Int64 = 1_700_000_000_000
            let clock = VirtualWallClock(milliseconds: start)
            let generator = clock.generator(layout: layout, workerID: token.workerID)
            var ids: [Int64] = []
            for _ in 0..<100 { ids.append(try await generator.next()) }
            // 300 ms back: within the generator's 1 s bound, so it goes on (waiting if needed).
            clock.set(clock.now - 300)
            for _ in 0..<100 { ids.append(try await generator.next()) }
            try checkStrictlyIncreasing(ids, "IDs across a 300 ms clock step back")
            // 5 s back: beyond the bound; it may use up the current millisecond, then must fail.
            clock.set(clock.now - 5_000)
            var failed = false
            for _ in 0...(layout.maximumSequence + 1) {
                do {
                    ids.append(try await generator.next())
                } catch let error as SnowflakeError where error.code == .clockMovedBackwards {
                    failed = true
                    break
                }
            }
            try check(failed, "with the clock 5 s behind, \(layout.maximumSequence + 2) IDs were issued without clockMovedBackwards")
            clock.set(clock.now + 10_000)
            for _ in 0..<100 { ids.append(try await generator.next()) }
            try checkStrictlyIncreasing(ids, "IDs across a 5 s clock step back and the clock's recovery")
        },

        ConformanceCase("workerid.snowflake-refuses-without-lease",
                        "a generator over a WorkerIDLease refuses with noWorkerID before acquire() and after release()") { context in
            let node = try await context.makeNode()
            let holder = WorkerIDLease(allocator: node)
            let generator = SnowflakeGenerator(layout: try millisecondLayout(for: node), lease: holder)
            try await checkThrows(SnowflakeError.self, "next() before the lease was acquired", where: { $0.code == .noWorkerID }) {
                try await generator.next()
            }
            let id = try await holder.acquire()
            let snowflake = try await generator.next()
            try checkEqual(generator.parse(snowflake).workerID, id, "worker ID parsed from an ID issued under the lease")
            await holder.release()
            try await checkThrows(SnowflakeError.self, "next() after the lease was released", where: { $0.code == .noWorkerID }) {
                try await generator.next()
            }
        },

        ConformanceCase("workerid.snowflake-distinct-across-nodes",
                        "4 nodes with leased worker IDs issue 100,000 IDs each at once: no duplicates") { context in
            let probe = try await context.makeNode()
            let count = min(4, probe.range.count)
            let layout = try millisecondLayout(for: probe)
            let nodes = try await context.makeNodes(count)
            var tokens: [WorkerIDLeaseToken] = []
            for (index, node) in nodes.enumerated() { tokens.append(try await lease(node, "node \(index)")) }
            try check(Set(tokens.map(\.workerID)).count == count, "the \(count) nodes got duplicate worker IDs: \(tokens.map(\.workerID))")
            let perNode = 100_000
            let batches = try await withThrowingTaskGroup(of: (Int, [Int64]).self) { group in
                for token in tokens {
                    group.addTask {
                        let generator = SnowflakeGenerator(layout: layout, workerID: { token.workerID })
                        var ids: [Int64] = []
                        ids.reserveCapacity(perNode)
                        for _ in 0..<perNode { ids.append(try await generator.next()) }
                        return (token.workerID, ids)
                    }
                }
                var batches: [(Int, [Int64])] = []
                for try await batch in group { batches.append(batch) }
                return batches
            }
            var all = Set<Int64>(minimumCapacity: perNode * count)
            for (workerID, ids) in batches {
                try checkStrictlyIncreasing(ids, "IDs of worker \(workerID)")
                try checkEqual(layout.parse(ids[ids.count / 2]).workerID, workerID, "worker ID parsed from an ID of worker \(workerID)")
                all.formUnion(ids)
            }
            try checkEqual(all.count, perNode * count, "distinct IDs among \(perNode) from each of \(count) nodes")
        },
    ]

    /// Bits needed for worker IDs up to `maximum` (at least 1).
    static func workerBits(for maximum: Int) -> Int {
        max(1, Int.bitWidth - maximum.leadingZeroBitCount)
    }

    /// A 63-bit millisecond layout whose worker bits fit the node's whole range.
    static func millisecondLayout(for node: any WorkerIDAllocator) throws -> SnowflakeLayout {
        try SnowflakeLayout.milliseconds(workerBits: max(5, workerBits(for: node.range.upperBound)), sequenceBits: 12)
    }

    /// NocoBase's layout when `workerID` fits its 5 worker bits; otherwise a second-resolution
    /// layout with the same 16 sequence bits and enough worker bits.
    static func secondLayout(for workerID: Int) throws -> SnowflakeLayout {
        if SnowflakeLayout.nocobase.canEncode(workerIDs: workerID...workerID) { return .nocobase }
        return try SnowflakeLayout(epochMilliseconds: SnowflakeLayout.nocobase.epochMilliseconds, timeUnit: .seconds,
                                   workerBits: workerBits(for: workerID), sequenceBits: 16)
    }

    static func checkStrictlyIncreasing(_ ids: [Int64], _ what: String) throws(ConformanceFailure) {
        for index in ids.indices.dropFirst() where ids[index] <= ids[index - 1] {
            throw ConformanceFailure("\(what): ID \(index) (\(ids[index])) is not greater than the one before (\(ids[index - 1]))\(ids[index] == ids[index - 1] ? " — a duplicate" : "")")
        }
    }
}
