import ClusterKit

extension WorkerIDConformance {
    static let leaseCases: [ConformanceCase<any WorkerIDAllocator>] = [
        ConformanceCase("workerid.lease-maintain-keeps-id",
                        "WorkerIDLease.maintain() keeps the ID past several TTLs without a loss; release() frees it and says so") { context in
            let (a, b, c) = (try await context.makeNode(), try await context.makeNode(), try await context.makeNode())
            let ttl = try shortTTL(of: a)
            let holder = WorkerIDLease(allocator: a)
            let events = Collector<WorkerIDLeaseEvent>()
            let stream = holder.events()
            let listener = Task { for await event in stream { events.append(event) } }
            defer { listener.cancel() }
            let id = try await holder.acquire()
            let maintainer = Task { try await holder.maintain() }
            defer { maintainer.cancel() }
            try await Task.sleep(for: ttl * 3.5)
            try checkEqual(holder.workerID, id, "the maintained lease's worker ID after \(ttl * 3.5) (TTL \(ttl))")
            let other = try await lease(b, "node B")
            try check(other.workerID != id, "node B got ID \(id), which a maintained lease holds")
            maintainer.cancel()
            _ = await maintainer.result
            await holder.release()
            try check(holder.workerID == nil, "the worker ID is \(String(describing: holder.workerID)) after release(), expected nil")
            try await eventually("the .released(\(id)) event", timeout: .seconds(2)) { events.values.contains(.released(id)) }
            try checkEqual(events.values, [.acquired(id), .released(id)], "events of a lease maintained then released")
            let freed = try await lease(c, "node C after release")
            try checkEqual(freed.workerID, id, "ID node C leased after the lease was released")
        },

        ConformanceCase("workerid.lease-reports-loss",
                        "a lease left unrenewed past its TTL stops giving its ID; maintain() reports .lost and acquires another ID") { context in
            let (a, b) = (try await context.makeNode(), try await context.makeNode())
            let ttl = try shortTTL(of: a)
            let holder = WorkerIDLease(allocator: a)
            let generator = SnowflakeGenerator(lease: holder)
            let events = Collector<WorkerIDLeaseEvent>()
            let stream = holder.events()
            let listener = Task { for await event in stream { events.append(event) } }
            defer { listener.cancel() }
            let id = try await holder.acquire()
            try await eventually("the .acquired(\(id)) event", timeout: .seconds(2)) { events.values.contains(.acquired(id)) }
            // The node "stops renewing": nobody maintains the lease.
            try await Task.sleep(for: expiryWait(ttl))
            try check(holder.workerID == nil, "an unrenewed lease still gives worker ID \(String(describing: holder.workerID)) \(expiryWait(ttl)) after it was taken (TTL \(ttl))")
            try await checkThrows(SnowflakeError.self, "generating a snowflake ID after the lease expired",
                                  where: { $0.code == .noWorkerID }) { try await generator.next() }
            let taken = try await lease(b, "node B after the lease expired")
            try checkEqual(taken.workerID, id, "ID node B leased after the other node stopped renewing")
            let maintainer = Task { try await holder.maintain() }
            defer { maintainer.cancel() }
            try await eventually("a .lost(\(id)) event then a new .acquired", timeout: .seconds(5)) {
                events.values.contains(.lost(id)) && events.values.filter { if case .acquired = $0 { true } else { false } }.count == 2
            }
            let replacement = events.values.compactMap { event -> Int? in
                if case .acquired(let new) = event, new != id { return new } else { return nil }
            }
            try checkEqual(events.values.count, 3, "events (acquired, lost, acquired): \(events.values)")
            try checkEqual(events.values[1], .lost(id), "second event")
            try check(replacement.count == 1, "after the loss the lease must acquire an ID other than node B's \(id); events: \(events.values)")
            try checkEqual(holder.workerID, replacement.first, "the lease's worker ID after re-acquiring")
            try check(try await b.renew(taken), "node B lost ID \(id) when the old holder noticed its loss")
            maintainer.cancel()
            _ = await maintainer.result
            await holder.release()
        },
    ]
}
