/// The bookkeeping of a queue consumer's handler workers: long-lived tasks on the
/// cooperative pool that run one handler at a time each, taking their jobs from the
/// consumer's own first-in-first-out hand-off list (its deliveries received and not started).
///
/// A value kept inside the consumer's own `Mutex` state and changed only under that lock. It
/// never resumes, creates or cancels a task itself: its methods say what to do, and the
/// consumer does it after the lock (resume a parked worker, start a task and file its handle,
/// cancel a task). A parked worker waits on an `UnsafeContinuation<Bool, Never>` (resumed
/// exactly once, by whoever takes it from here under the lock: with `true`, look for work;
/// `false`, end). Not generic: a generic type across modules cost its callers ~1k
/// instructions per job of runtime metadata look-ups under callgrind.
///
/// ## Rules (the consumer's side of each is in brackets)
/// - **At most `limit` workers are alive**, from their spawn until they ended. A doomed worker
///   (its job was taken from it: timed out, abandoned by the stop, or lost with its
///   connection; its task is cancelled) still counts until its handler returned and it ended,
///   so worker tasks never number more than `limit`, doomed ones included. (A worker takes a
///   job only when it is free, so running handlers never exceed `limit` either.)
/// - **One worker on its way**: ``wake()`` resumes a parked worker (the most recently parked:
///   its stack is warm) or, while fewer than `limit` are alive, spawns one, but only while no
///   other worker is on its way (woken or spawned and not yet looked at the list). [Call
///   `wake()` whenever the list gets a job that may start: deliveries added, a doomed worker
///   ended, the consumer unpaused.]
/// - **Hand-off, not wake-ups per job**: a worker that arrives (``arrived(_:)``) takes the
///   list's head, and, if jobs remain, wakes the next worker; a worker whose handler
///   returned (``finished(_:)``) takes the next job itself, without parking. So a burst is
///   started by a chain of wake-ups, every job still starting as soon as a worker is free,
///   and a round of quick jobs is run by the workers already running, at about one wake-up
///   per round instead of one per job. The list is taken head first, so jobs start in
///   their order (one after the other for `limit` 1).
/// - **Parking re-checks**: [a worker parks (``park(_:_:unless:)``) in the same lock section in
///   which it found nothing to take], so a job added later finds it parked and `wake()`
///   resumes it: no job waits while a worker sleeps.
/// - **Doomed**: ``doom(_:)`` marks a worker whose job was taken from it; [its task is
///   cancelled, which is how the handler sees it]; `finished` then ends it instead of
///   giving it another job: a cancelled task never runs another handler.
/// - **Closed**: ``close()`` hands back the parked workers (to be resumed with `false`: they
///   end at once); busy ones end when their handler returns, arriving ones on arrival, and
///   `wake()` starts none. [Jobs still in the list are the consumer's to give back.]
package struct HandlerWorkers: Sendable {
    package typealias Waiter = UnsafeContinuation<Bool, Never>

    /// A worker spawned by ``wake()``: start its task outside the lock, then file the task
    /// with ``file(_:for:)``.
    package struct Spawn: Sendable {
        package let worker: Int
        @usableFromInline let generation: Int

        @inlinable init(worker: Int, generation: Int) {
            self.worker = worker
            self.generation = generation
        }
    }

    /// What ``wake()`` asks the consumer to do after the lock.
    package enum Wake: Sendable {
        /// A worker is on its way already, every worker is busy, or the workers are closed.
        case none
        /// Resume this parked worker (with `true`).
        case resume(worker: Int, Waiter)
        /// Start a task for a new worker, which looks at the list first thing.
        case spawn(Spawn)
    }

    /// A worker, by ID (its index in `slots`; IDs of ended workers are reused).
    @usableFromInline struct Slot: Sendable {
        /// Its task, filed just after it was made (`nil` until then and once it ended).
        @usableFromInline var task: Task<Void, Never>?
        /// Spawned and not ended.
        @usableFromInline var live = false
        /// Its job was taken from it: it ends when its handler returns.
        @usableFromInline var doomed = false
        /// Counts the workers that had this ID, so that a late-filed task handle is never
        /// filed under a later worker.
        @usableFromInline var generation = 0

        @inlinable init() {}
    }

    /// Workers alive at once, at most.
    package let limit: Int
    @usableFromInline var slots: [Slot] = []
    @usableFromInline var freeIDs: [Int] = []
    /// Parked workers, the most recently parked last.
    @usableFromInline var parked: [(worker: Int, waiter: Waiter)] = []
    @usableFromInline var liveCount = 0
    @usableFromInline var wokenWorker: Int?
    @usableFromInline var isClosed = false

    @inlinable
    package init(limit: Int) {
        precondition(limit > 0, "a worker pool needs room for one worker")
        self.limit = limit
    }

    /// Workers spawned and not ended (doomed ones included): never more than `limit`.
    @inlinable
    package var live: Int { liveCount }

    /// Workers parked now.
    @inlinable
    package var parkedCount: Int { parked.count }

    /// The worker woken or spawned to look at the list, until it did.
    @inlinable
    package var onItsWay: Int? { wokenWorker }

    /// Set by ``close()``.
    @inlinable
    package var closed: Bool { isClosed }

    /// Whether `worker`'s job was taken from it (it ends when its handler returns).
    @inlinable
    package func isDoomed(_ worker: Int) -> Bool { slots[worker].doomed }

    /// Gets a worker on its way to the list, unless one is already, all `limit` are alive and
    /// none parked (a busy one takes the job when its handler returns), or closed.
    @inlinable
    package mutating func wake() -> Wake {
        guard !isClosed, wokenWorker == nil else { return .none }
        if let next = parked.popLast() {
            wokenWorker = next.worker
            return .resume(worker: next.worker, next.waiter)
        }
        guard liveCount < limit else { return .none }
        let worker: Int
        if let reused = freeIDs.popLast() {
            worker = reused
        } else {
            worker = slots.count
            slots.append(Slot())
        }
        slots[worker].live = true
        slots[worker].generation &+= 1
        liveCount += 1
        wokenWorker = worker
        return .spawn(Spawn(worker: worker, generation: slots[worker].generation))
    }

    /// A woken or spawned worker, under the lock in which it looks at the list: no longer on
    /// its way. `false` when closed: it has ended. (If it takes a job and more remain, the
    /// consumer calls ``wake()`` for the next one.)
    @inlinable
    package mutating func arrived(_ worker: Int) -> Bool {
        if wokenWorker == worker { wokenWorker = nil }
        guard !isClosed else {
            retire(worker)
            return false
        }
        return true
    }

    /// `worker`'s handler returned (its job is settled or being settled): `false` when it must
    /// end, doomed or closed, and it has then ended. Otherwise it may take the next job.
    @inlinable
    package mutating func finished(_ worker: Int) -> Bool {
        guard slots[worker].doomed || isClosed else { return true }
        retire(worker)
        return false
    }

    /// Parks `worker` unless `hasWork` (the consumer found a job for it in this same lock
    /// section): `nil` when it parked, `true` when it should look at the list again at once,
    /// `false` when closed (it has ended, and must not wait).
    @inlinable
    package mutating func park(_ worker: Int, _ waiter: Waiter, unless hasWork: Bool) -> Bool? {
        guard !isClosed else {
            retire(worker)
            return false
        }
        if hasWork { return true }
        parked.append((worker, waiter))
        return nil
    }

    /// Files the task of a spawned worker, under the lock just after it was made outside it:
    /// `true` when it must be cancelled at once (doomed meanwhile). Nothing is filed for a
    /// worker that ended meanwhile.
    @inlinable
    package mutating func file(_ task: Task<Void, Never>, for spawn: Spawn) -> Bool {
        guard slots[spawn.worker].generation == spawn.generation, slots[spawn.worker].live else { return false }
        slots[spawn.worker].task = task
        return slots[spawn.worker].doomed
    }

    /// Dooms `worker`, whose job was taken from it: it ends when its handler returns. Returns
    /// its task to cancel (`nil` while not filed yet: the filing says to cancel it).
    @inlinable
    package mutating func doom(_ worker: Int) -> Task<Void, Never>? {
        slots[worker].doomed = true
        return slots[worker].task
    }

    /// Closes the pool: returns the parked workers' waiters, to be resumed with `false` after
    /// the lock (they have ended).
    @inlinable
    package mutating func close() -> [Waiter] {
        isClosed = true
        let waiting = parked
        parked.removeAll()
        for (worker, _) in waiting { retire(worker) }
        return waiting.map(\.waiter)
    }

    @inlinable
    mutating func retire(_ worker: Int) {
        slots[worker].live = false
        slots[worker].doomed = false
        slots[worker].task = nil
        liveCount -= 1
        if wokenWorker == worker { wokenWorker = nil }
        freeIDs.append(worker)
    }
}

extension HandlerWorkers {
    /// Does what ``wake()`` asked, after the lock: resumes the parked worker, or starts the
    /// new one's task with `start` and files it with `file` (which takes the consumer's lock
    /// and calls ``file(_:for:)``), cancelling it if it was doomed meanwhile.
    @inlinable
    package static func perform(_ wake: Wake, start: (Int) -> Task<Void, Never>,
                                file: (Task<Void, Never>, Spawn) -> Bool) {
        switch wake {
        case .none:
            return
        case .resume(_, let waiter):
            waiter.resume(returning: true)
        case .spawn(let spawn):
            let task = start(spawn.worker)
            if file(task, spawn) { task.cancel() }
        }
    }

    /// Parks the calling worker: `lockedPark` takes the consumer's lock and returns what
    /// ``park(_:_:unless:)`` returned for the given waiter. Returns `true` once woken (or at
    /// once when there was work): look for work; `false` when the worker has ended.
    @inlinable
    package static func parkWorker(_ lockedPark: (Waiter) -> Bool?) async -> Bool {
        await withUnsafeContinuation { (waiter: Waiter) in
            if let now = lockedPark(waiter) { waiter.resume(returning: now) }
        }
    }
}
