import Logging
import Synchronization

/// One node's worker ID: holds a lease from any ``WorkerIDAllocator``, keeps it alive and
/// says when it is lost, so that snowflake IDs are never issued under an ID another node
/// may hold.
///
/// ## Lifecycle
/// - ``acquire()`` leases the lowest free ID (or returns the one already held).
/// - ``maintain()`` runs until its task is cancelled. It renews the lease every
///   ``renewalInterval`` (TTL/3). A failed renewal call is retried with
///   ``Backoff/reconnect`` until ``validity`` has passed since the last confirmation.
///   When renewal reports the lease expired or taken, or ``validity`` passes without a
///   successful renewal, the lease is lost: ``workerID`` becomes `nil` at once, `.lost(id)`
///   is emitted, and a new lease is acquired with backoff (`.acquired(newID)`). If nothing
///   is held when it starts, it acquires first. It returns once ``release()`` was called.
/// - ``release()`` stops using the ID (``workerID`` is `nil` before the ID is freed), frees
///   it and emits `.released(id)`. A later ``acquire()`` starts over.
///
/// ## How long a lease counts as held
/// A lease is counted from the moment the request that took or renewed it was *sent*, so
/// that however long the answer took, the backend's deadline is later than ours. It counts
/// as held for ``validity`` = 90 % of the allocator's `leaseTTL` after that moment; the
/// 10 % margin absorbs clock-rate differences and expiry granularity. ``workerID`` checks
/// this window on every read, so even without ``maintain()`` (or while a renewal call hangs)
/// an unrenewed lease stops being used before the backend frees it. Pauses of the whole
/// process (SIGSTOP, swapping) longer than the margin are not covered by any lease scheme.
public final class WorkerIDLease: Sendable {
    private struct State {
        var held: WorkerIDLeaseToken?
        /// End of the window in which `held` counts as held.
        var validUntil: ContinuousClock.Instant
        /// Set by release(), cleared by acquire(): stops maintain() from re-acquiring.
        var released = false
        /// Bumped by release(), so an acquisition in flight at that moment gives its ID back.
        var generation: UInt64 = 0
        /// The lease request in flight and the callers waiting for it.
        var acquisition: Acquisition?
        var nextWaiter: UInt64 = 0
        var listeners: [UInt64: AsyncStream<WorkerIDLeaseEvent>.Continuation] = [:]
        var nextListener: UInt64 = 0
    }

    private struct Acquisition {
        let task: Task<Void, Never>
        var waiters: [UInt64: CheckedContinuation<Int?, any Error>] = [:]
    }

    /// The allocator the lease is taken from.
    public let allocator: any WorkerIDAllocator
    /// The allocator's lease TTL, read once at creation.
    public let leaseTTL: Duration
    /// How long after the last confirmation the lease counts as held: 90 % of ``leaseTTL``.
    public let validity: Duration
    /// How often ``maintain()`` renews: a third of ``leaseTTL``.
    public let renewalInterval: Duration

    private let logger: Logger
    private let metrics: WorkerIDLeaseMetrics?
    private let clock = ContinuousClock()
    private let state: Mutex<State>

    /// - Parameter metrics: where renewals and losses are counted; `nil` counts nothing.
    public init(allocator: any WorkerIDAllocator, logger: Logger = Logger(label: "clusterkit.workerid"),
                metrics: WorkerIDLeaseMetrics? = nil) {
        self.allocator = allocator
        self.logger = logger
        self.metrics = metrics
        self.leaseTTL = allocator.leaseTTL
        self.validity = allocator.leaseTTL * 0.9
        self.renewalInterval = allocator.leaseTTL / 3
        self.state = Mutex(State(validUntil: ContinuousClock().now))
    }

    deinit {
        let listeners = state.withLock { state in
            defer { state.listeners.removeAll() }
            return state.listeners
        }
        for continuation in listeners.values { continuation.finish() }
    }

    /// The held worker ID; `nil` when none is held, after ``release()``, and as soon as the
    /// lease is lost or has gone unconfirmed for ``validity``.
    public var workerID: Int? {
        let now = clock.now
        return state.withLock { state in
            guard let held = state.held, now < state.validUntil else { return nil }
            return held.workerID
        }
    }

    /// Leases a worker ID unless one is held, and returns it. Concurrent calls (and
    /// ``maintain()``) share one lease request. Throws the allocator's error, e.g.
    /// ``WorkerIDError/Code/exhausted``; ``WorkerIDError/Code/notHeld`` when ``release()`` was called
    /// while the request was in flight; `CancellationError` when the calling task is
    /// cancelled (it stops waiting at once). An ID obtained for nobody is given back.
    public func acquire() async throws -> Int {
        // Only nil for maintain()'s acquisitions after release().
        guard let id = try await obtain(explicit: true) else { throw Self.releasedWhileAcquiring }
        return id
    }

    /// Gives the lease up, if one is held: ``workerID`` becomes `nil` at once, then the ID is
    /// freed in the allocator (a failure there is logged; the lease then expires after its
    /// TTL) and `.released(id)` is emitted. Also stops ``maintain()`` and abandons a lease
    /// request in flight.
    public func release() async {
        let (held, abandoned) = state.withLock { state in
            state.released = true
            state.generation &+= 1
            defer {
                state.held = nil
                state.acquisition = nil
            }
            return (state.held, state.acquisition)
        }
        if let abandoned {
            // Its ID, if it gets one, is given back by performAcquisition (generation changed).
            abandoned.task.cancel()
            for waiter in abandoned.waiters.values { waiter.resume(throwing: Self.releasedWhileAcquiring) }
        }
        guard let held else { return }
        do {
            try await allocator.release(held)
        } catch {
            logger.warning("could not free worker ID; it expires after its TTL", metadata: [
                "workerID": "\(held.workerID)", "error": "\(error)",
            ])
        }
        emit(.released(held.workerID))
    }

    /// Every event from now on, in order. Each call returns a separate stream; every stream
    /// gets all events. A stream ends when its consumer stops iterating or the lease is
    /// deallocated.
    public func events() -> AsyncStream<WorkerIDLeaseEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: WorkerIDLeaseEvent.self)
        // No onTermination handler that takes `state`: events are yielded under `state`, and a
        // cancelled consumer runs that handler while holding its task's status lock, which the
        // yield resuming it needs — the two would deadlock. A finished stream is dropped from
        // `listeners` by the next event instead (its yield reports `.terminated`).
        state.withLock { state in
            defer { state.nextListener += 1 }
            state.listeners[state.nextListener] = continuation
        }
        return stream
    }

    /// Keeps a lease held until the calling task is cancelled (then returns) or ``release()``
    /// is called (then returns too); see the type's documentation. Throws only
    /// ``WorkerIDError/closed`` when the allocator was closed (the lease is then marked lost).
    /// Run one `maintain()` per lease at a time.
    public func maintain() async throws {
        var renewalFailures = 0
        var acquisitionFailures = 0
        var lastAttempt = clock.now
        while !Task.isCancelled {
            enum Step { case stop, acquire, renew(WorkerIDLeaseToken, validUntil: ContinuousClock.Instant) }
            let step: Step = state.withLock { state in
                if let held = state.held { return .renew(held, validUntil: state.validUntil) }
                return state.released ? .stop : .acquire
            }
            switch step {
            case .stop:
                return

            case .acquire:
                do {
                    guard try await obtain(explicit: false) != nil else { return }
                    acquisitionFailures = 0
                    renewalFailures = 0
                } catch is CancellationError {
                    return
                } catch let error as WorkerIDError where error.code == .closed {
                    throw error
                } catch let error as WorkerIDError where error.code == .notHeld {
                    continue // release() was called meanwhile: the next step stops
                } catch {
                    acquisitionFailures += 1
                    let delay = Backoff.reconnect.delay(forRetry: acquisitionFailures)
                    logger.warning("could not acquire a worker ID; retrying", metadata: [
                        "error": "\(error)", "retryIn": "\(delay)",
                    ])
                    guard (try? await clock.sleep(for: delay)) != nil else { return }
                }

            case .renew(let held, let validUntil):
                let due = renewalFailures == 0
                    ? validUntil - validity + renewalInterval
                    : lastAttempt + Backoff.reconnect.delay(forRetry: renewalFailures)
                guard (try? await clock.sleep(until: min(due, validUntil))) != nil else { return }
                // Released, or replaced by acquire() after a loss, while sleeping: start over.
                guard state.withLock({ $0.held == held }) else { continue }
                let attempt = clock.now
                if attempt >= validUntil {
                    markLost(held, reason: "not renewed within \(validity)")
                    renewalFailures = 0
                    continue
                }
                lastAttempt = attempt
                do {
                    if try await allocator.renew(held) {
                        confirm(held, sentAt: attempt)
                        metrics?.renewals.increment()
                        renewalFailures = 0
                    } else {
                        markLost(held, reason: "renewal found the lease expired or taken by another node")
                        renewalFailures = 0
                    }
                } catch is CancellationError {
                    return
                } catch let error as WorkerIDError where error.code == .closed {
                    markLost(held, reason: "the allocator was closed")
                    throw error
                } catch {
                    renewalFailures += 1
                    logger.warning("could not renew the worker-ID lease; retrying", metadata: [
                        "workerID": "\(held.workerID)", "error": "\(error)",
                    ])
                }
            }
        }
    }

    // MARK: - Internals

    private static let releasedWhileAcquiring = WorkerIDError(code: .notHeld, message: "the worker-ID lease was released while it was being acquired")

    /// The held ID, or the result of the (shared) lease request. `explicit` is `acquire()`:
    /// it clears `released`; maintain()'s calls return `nil` instead once released.
    /// A cancelled caller stops waiting at once; the request itself is cancelled (and any ID
    /// it obtains given back) when no caller waits for it any more.
    private func obtain(explicit: Bool) async throws -> Int? {
        let waiterID = state.withLock { state in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int?, any Error>) in
                let now = clock.now
                let immediate: Result<Int?, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let held = state.held {
                        if now < state.validUntil { return .success(held.workerID) }
                        loseLocked(&state, held)
                    }
                    if explicit {
                        state.released = false
                    } else if state.released {
                        return .success(nil)
                    }
                    if state.acquisition == nil {
                        let generation = state.generation
                        let task = Task { await self.performAcquisition(generation: generation) }
                        state.acquisition = Acquisition(task: task)
                    }
                    state.acquisition?.waiters[waiterID] = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let (waiter, abandoned) = state.withLock { state -> (CheckedContinuation<Int?, any Error>?, Task<Void, Never>?) in
                guard let waiter = state.acquisition?.waiters.removeValue(forKey: waiterID) else { return (nil, nil) }
                return (waiter, state.acquisition?.waiters.isEmpty == true ? state.acquisition?.task : nil)
            }
            waiter?.resume(throwing: CancellationError())
            abandoned?.cancel()
        }
    }

    /// Runs one lease request and hands its outcome to the callers waiting for it. An ID
    /// nobody waits for any more (all cancelled, or release() called meanwhile) is given back.
    private func performAcquisition(generation: UInt64) async {
        let sentAt = clock.now
        let outcome: Result<WorkerIDLeaseToken, any Error>
        do {
            outcome = .success(try await allocator.lease())
        } catch {
            outcome = .failure(error)
        }
        let (waiters, adopted) = state.withLock { state -> ([CheckedContinuation<Int?, any Error>], Bool) in
            guard state.generation == generation, let acquisition = state.acquisition else { return ([], false) }
            state.acquisition = nil
            let waiters = Array(acquisition.waiters.values)
            guard case .success(let token) = outcome, !waiters.isEmpty else { return (waiters, false) }
            state.held = token
            state.validUntil = sentAt + validity
            emitLocked(&state, .acquired(token.workerID))
            return (waiters, true)
        }
        switch outcome {
        case .success(let token) where adopted:
            logger.info("acquired worker ID", metadata: ["workerID": "\(token.workerID)"])
            for waiter in waiters { waiter.resume(returning: token.workerID) }
        case .success(let token):
            try? await allocator.release(token)
            for waiter in waiters { waiter.resume(throwing: CancellationError()) }
        case .failure(let error):
            for waiter in waiters { waiter.resume(throwing: error) }
        }
    }

    private func confirm(_ token: WorkerIDLeaseToken, sentAt: ContinuousClock.Instant) {
        state.withLock { state in
            guard state.held == token else { return }
            state.validUntil = max(state.validUntil, sentAt + validity)
        }
    }

    private func markLost(_ token: WorkerIDLeaseToken, reason: String) {
        let lost = state.withLock { state in
            guard state.held == token else { return false }
            loseLocked(&state, token)
            return true
        }
        if lost {
            logger.warning("worker-ID lease lost", metadata: ["workerID": "\(token.workerID)", "reason": "\(reason)"])
        }
    }

    private func loseLocked(_ state: inout State, _ token: WorkerIDLeaseToken) {
        state.held = nil
        metrics?.losses.increment()
        emitLocked(&state, .lost(token.workerID))
    }

    private func emit(_ event: WorkerIDLeaseEvent) {
        state.withLock { emitLocked(&$0, event) }
    }

    /// Yields under the lock so that every listener sees events in one order.
    private func emitLocked(_ state: inout State, _ event: WorkerIDLeaseEvent) {
        for (id, continuation) in state.listeners {
            if case .terminated = continuation.yield(event) { state.listeners[id] = nil }
        }
    }
}
