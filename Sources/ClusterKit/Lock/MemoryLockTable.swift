/// The shared state of every ``MemoryLock`` node built from one ``MemoryBackend``: who
/// holds which key, who waits for it, and the fencing counter. Pure bookkeeping with no
/// concurrency of its own: ``MemoryLockState`` guards it with a mutex, and every mutating
/// method returns the suspended waiters to wake so that the caller resumes them after
/// unlocking.
///
/// Keys here are namespaced (`APP_NAME:lock:<key>`). A key's entry exists only while the key
/// has a holder or a waiter; expired holders are removed when the key is next touched, and
/// by a sweep over all keys that runs after as many operations as there are entries
/// (amortised O(1) per operation), so keys nobody holds or waits for do not accumulate.
struct MemoryLockTable<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    struct Holder: Sendable {
        var lease: LockLease
        var expiry: Instant
    }

    struct Entry: Sendable {
        var holder: Holder?
        /// Waiter IDs, longest waiting first.
        var queue: [UInt64] = []
    }

    enum WaiterStatus: Sendable {
        case waiting
        /// The lock was handed over; the waiting call has not taken the lease yet.
        case granted(LockLease)
        case cancelled
        case closed
    }

    struct Waiter: Sendable {
        /// Namespaced key.
        let slot: String
        /// The key as the caller gave it (goes into the lease).
        let key: String
        let ttl: Duration
        /// The node (``MemoryLock`` instance) that waits, for `close()`.
        let node: UInt64
        var status: WaiterStatus = .waiting
        /// When the waiter's timer fires next; a holder whose expiry moves before it must
        /// wake the waiter early.
        var wakeAt: Instant?
        /// Set while the waiting task is suspended.
        var continuation: CheckedContinuation<Void, Never>?
        /// A wake-up that arrived while the task was not suspended.
        var signalled = false
    }

    private(set) var entries: [String: Entry] = [:]
    private(set) var waiters: [UInt64: Waiter] = [:]
    /// One counter for all keys: a token is larger than every token handed out before, so
    /// it strictly increases per key, and nothing is kept per freed key.
    private(set) var lastFencingToken: UInt64 = 0
    private var lastWaiterID: UInt64 = 0
    private var lastNodeID: UInt64 = 0
    private var operationsSinceSweep = 0

    typealias Wakeups = [CheckedContinuation<Void, Never>]

    /// Keys with a holder or a waiter, across all apps.
    var keyCount: Int { entries.count }
    /// Keys whose holder has not been removed yet (expired holders count until swept).
    var holderCount: Int { entries.values.filter { $0.holder != nil }.count }
    /// Waiting calls, plus handed-over leases not yet taken by their waiter.
    var waiterCount: Int { waiters.count }

    mutating func registerNode() -> UInt64 {
        lastNodeID += 1
        return lastNodeID
    }

    // MARK: Holding

    /// Takes `slot` for a new owner when nobody holds it and nobody waits for it (waiters
    /// are served first: a free lock with waiters goes to the longest waiter).
    mutating func tryTake(slot: String, key: String, ttl: Duration, now: Instant, wakeups: inout Wakeups) -> LockLease? {
        noteOperation(now: now, wakeups: &wakeups)
        settle(slot, now: now, wakeups: &wakeups)
        if entries[slot] != nil { return nil }
        let lease = makeLease(key: key, ttl: ttl)
        entries[slot] = Entry(holder: Holder(lease: lease, expiry: now.advanced(by: ttl)))
        return lease
    }

    /// Frees `slot` if `lease` holds it and has not expired, handing it to the longest
    /// waiter. Returns whether it did.
    mutating func release(slot: String, lease: LockLease, now: Instant, wakeups: inout Wakeups) -> Bool {
        noteOperation(now: now, wakeups: &wakeups)
        settle(slot, now: now, wakeups: &wakeups)
        guard var entry = entries[slot], let holder = entry.holder, holder.lease.ownerToken == lease.ownerToken else {
            return false
        }
        entry.holder = nil
        entries[slot] = entry
        settle(slot, now: now, wakeups: &wakeups)
        return true
    }

    /// Sets the expiry of `slot` to `now + ttl` if `lease` holds it and has not expired.
    mutating func extend(slot: String, lease: LockLease, ttl: Duration, now: Instant, wakeups: inout Wakeups) -> Bool {
        noteOperation(now: now, wakeups: &wakeups)
        settle(slot, now: now, wakeups: &wakeups)
        guard var entry = entries[slot], var holder = entry.holder, holder.lease.ownerToken == lease.ownerToken else {
            return false
        }
        holder.expiry = now.advanced(by: ttl)
        entry.holder = holder
        entries[slot] = entry
        wakeWaiters(of: entry, sleepingPast: holder.expiry, wakeups: &wakeups)
        return true
    }

    // MARK: Waiting

    /// Queues a new waiter for `slot` behind the existing ones.
    mutating func enqueue(slot: String, key: String, ttl: Duration, node: UInt64) -> UInt64 {
        lastWaiterID += 1
        let id = lastWaiterID
        waiters[id] = Waiter(slot: slot, key: key, ttl: ttl, node: node)
        entries[slot, default: Entry()].queue.append(id)
        return id
    }

    enum WaitStep {
        case acquired(LockLease)
        case cancelled
        case closed
        case timedOut
        /// Sleep until this instant (or an earlier wake-up), then check again.
        case sleep(until: Instant)
    }

    /// What waiter `id` does next: take the lease it was handed, give up, or sleep until
    /// the holder's expiry or its own deadline, whichever comes first. Every outcome but
    /// `sleep` forgets the waiter.
    mutating func step(waiter id: UInt64, deadline: Instant, now: Instant, wakeups: inout Wakeups) -> WaitStep {
        guard var waiter = waiters[id] else { return .cancelled }
        settle(waiter.slot, now: now, wakeups: &wakeups)
        waiter = waiters[id] ?? waiter
        switch waiter.status {
        case .granted(let lease):
            waiters[id] = nil
            return .acquired(lease)
        case .cancelled:
            waiters[id] = nil
            return .cancelled
        case .closed:
            waiters[id] = nil
            return .closed
        case .waiting:
            if now >= deadline {
                dequeue(id, from: waiter.slot)
                waiters[id] = nil
                return .timedOut
            }
            // A waiting waiter is queued, and a key with a queue always has a holder after
            // `settle` (a free key goes to the head of its queue).
            let expiry = entries[waiter.slot]?.holder?.expiry ?? now
            let wakeAt = min(expiry, deadline)
            waiter.wakeAt = wakeAt
            waiter.signalled = false
            waiters[id] = waiter
            return .sleep(until: wakeAt)
        }
    }

    /// Stores the continuation of waiter `id`, unless a wake-up already arrived (or the
    /// waiter is gone): then returns `false` and the caller resumes at once.
    mutating func suspend(waiter id: UInt64, _ continuation: CheckedContinuation<Void, Never>) -> Bool {
        guard var waiter = waiters[id], !waiter.signalled, case .waiting = waiter.status else { return false }
        waiter.continuation = continuation
        waiters[id] = waiter
        return true
    }

    /// Wakes waiter `id` so that it checks again (its timer fired).
    mutating func signal(waiter id: UInt64, wakeups: inout Wakeups) {
        guard waiters[id] != nil else { return }
        wake(id, wakeups: &wakeups)
    }

    /// Withdraws waiter `id` because its task was cancelled. If the lock had already been
    /// handed to it but not yet taken, it is released again (to the next waiter), so a
    /// cancelled waiter never ends up holding a lock nobody knows about.
    mutating func cancel(waiter id: UInt64, now: Instant, wakeups: inout Wakeups) {
        abandon(id, as: .cancelled, now: now, wakeups: &wakeups)
    }

    /// Fails every waiter of `node` with `closed` (returning handed-over but untaken locks).
    mutating func close(node: UInt64, now: Instant, wakeups: inout Wakeups) {
        let ids = waiters.filter { $0.value.node == node }.keys.sorted()
        for id in ids { abandon(id, as: .closed, now: now, wakeups: &wakeups) }
    }

    private mutating func abandon(_ id: UInt64, as status: WaiterStatus, now: Instant, wakeups: inout Wakeups) {
        guard var waiter = waiters[id] else { return }
        switch waiter.status {
        case .waiting:
            dequeue(id, from: waiter.slot)
        case .granted(let lease):
            if var entry = entries[waiter.slot], entry.holder?.lease.ownerToken == lease.ownerToken {
                entry.holder = nil
                entries[waiter.slot] = entry
                settle(waiter.slot, now: now, wakeups: &wakeups)
            }
        case .cancelled, .closed:
            return
        }
        waiter.status = status
        waiters[id] = waiter
        wake(id, wakeups: &wakeups)
    }

    // MARK: Internals

    /// Removes an expired holder of `slot`, hands a free lock to the longest waiter and
    /// forgets the entry when nobody holds or waits.
    private mutating func settle(_ slot: String, now: Instant, wakeups: inout Wakeups) {
        guard var entry = entries[slot] else { return }
        if let holder = entry.holder, holder.expiry <= now { entry.holder = nil }
        while entry.holder == nil, !entry.queue.isEmpty {
            let id = entry.queue.removeFirst()
            if var waiter = waiters[id], case .waiting = waiter.status {
                let lease = makeLease(key: waiter.key, ttl: waiter.ttl)
                let holder = Holder(lease: lease, expiry: now.advanced(by: waiter.ttl))
                entry.holder = holder
                waiter.status = .granted(lease)
                waiters[id] = waiter
                wake(id, wakeups: &wakeups)
                wakeWaiters(of: entry, sleepingPast: holder.expiry, wakeups: &wakeups)
            }
        }
        entries[slot] = entry.holder == nil && entry.queue.isEmpty ? nil : entry
    }

    /// Wakes the queued waiters whose timer would fire after `expiry`, so that they wake at
    /// the (earlier) expiry instead.
    private mutating func wakeWaiters(of entry: Entry, sleepingPast expiry: Instant, wakeups: inout Wakeups) {
        for id in entry.queue {
            if let wakeAt = waiters[id]?.wakeAt, wakeAt > expiry { wake(id, wakeups: &wakeups) }
        }
    }

    private mutating func wake(_ id: UInt64, wakeups: inout Wakeups) {
        guard var waiter = waiters[id] else { return }
        if let continuation = waiter.continuation {
            waiter.continuation = nil
            wakeups.append(continuation)
        } else {
            waiter.signalled = true
        }
        waiters[id] = waiter
    }

    private mutating func dequeue(_ id: UInt64, from slot: String) {
        guard var entry = entries[slot] else { return }
        entry.queue.removeAll { $0 == id }
        entries[slot] = entry.holder == nil && entry.queue.isEmpty ? nil : entry
    }

    private mutating func makeLease(key: String, ttl: Duration) -> LockLease {
        lastFencingToken += 1
        return LockLease(key: key, ownerToken: Self.randomToken(), fencingToken: lastFencingToken, ttl: ttl)
    }

    /// Counts an operation and sweeps every key once there have been as many operations as
    /// entries since the last sweep.
    private mutating func noteOperation(now: Instant, wakeups: inout Wakeups) {
        operationsSinceSweep += 1
        guard operationsSinceSweep >= max(16, entries.count) else { return }
        operationsSinceSweep = 0
        sweep(now: now, wakeups: &wakeups)
    }

    /// Settles every key with an expired holder.
    mutating func sweep(now: Instant, wakeups: inout Wakeups) {
        let expired = entries.compactMap { slot, entry in
            entry.holder.map { $0.expiry <= now } == true ? slot : nil
        }
        for slot in expired { settle(slot, now: now, wakeups: &wakeups) }
    }

    private static func randomToken() -> String {
        let high = UInt64.random(in: 0 ... .max), low = UInt64.random(in: 0 ... .max)
        let hex = { (value: UInt64) in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return hex(high) + hex(low)
    }
}
