import ClusterKit
import Logging
import Synchronization

/// The consumer ``RedisMessageQueue/consume(_:options:handler:)`` starts: a native Redis
/// Streams consumer-group reader, named after the node ID.
///
/// ## How it reads
/// - **Start-up replay first**: the first consumer of a queue on a node re-reads this node's
///   own pending entries, left by an earlier process with the same node ID (`XREADGROUP
///   GROUP g <node> COUNT n STREAMS <stream> <cursor>`, starting at `0`, in pages bounded by
///   free handler slots; each counts as a new attempt), before it reads anything new.
/// - **Batched reads**: `XREADGROUP GROUP g <node> COUNT n [BLOCK t] STREAMS <stream> >` on
///   a connection of its own, with `n` = free handler slots (at most
///   ``QueueConsumerOptions/concurrency`` handlers ever run). A read blocks only after the
///   previous one came back short (the queue looked drained), for at most
///   ``RedisMessageQueue/Configuration/consumerPullWait`` (``QueueConsumerOptions/gateInterval``
///   with a gate); the connection's read timeout is longer than that. ``pause()`` and
///   ``stop(drainTimeout:)`` end a blocked read at once (`CLIENT UNBLOCK`) and return only
///   after the read in progress came back, so nothing is taken once `pause()` returned.
/// - **Batched acknowledgements**: a handler that returns queues its entry for `XACK` +
///   `XDEL` (one `MULTI` transaction for many IDs). A batch is sent as soon as the previous
///   one was answered, so under load one round trip acknowledges everything that finished
///   meanwhile and at rest an entry is acknowledged at once. Nothing is acknowledged before
///   its handler returned; a failed batch is retried (the entries stay claimed meanwhile).
/// - **Failures**: a thrown error or an exceeded ``QueueMessage/timeout`` (the handler task
///   is cancelled) rejects the delivery through the queue's reject script: a retry after
///   the message's backoff through the delayed set, or the dead-letter stream after
///   `maxAttempts`.
/// - **Claims**: every third of ``QueueConsumerOptions/visibilityTimeout`` the consumer
///   resets the idle time of every entry it still holds (running or waiting for its
///   acknowledgement) with one `XCLAIM … JUSTID` of their IDs, so no other node takes them
///   over however long the handler legitimately runs (up to its timeout).
/// - **Takeover** between reads, every quarter of the visibility timeout (at most every
///   second; a blocking read never waits longer than that): one script takes over, with
///   `XAUTOCLAIM` (min idle = ``QueueConsumerOptions/visibilityTimeout``), up to
///   free-slots entries whose holder stopped renewing them (a crashed node), each as a new
///   attempt (its delivery count goes up by one); past `maxAttempts` it is dead-lettered.
/// - **Delayed messages** (delayed publishes, retries) are moved into the stream by a
///   script every ``RedisMessageQueue/Configuration/pollInterval``, or when the next one
///   falls due if sooner.
/// - **Threads**: the read loop runs on the reader connection's thread and the
///   acknowledgement flusher on a thread of the node's client (connection affinity), so
///   their round trips cost no hand-off between the cooperative pool and those threads;
///   handlers, the application's code, run on the cooperative pool in long-lived worker
///   tasks (started as needed), one handler at a time each, so at most
///   ``QueueConsumerOptions/concurrency`` handlers run; the tasks themselves can number up
///   to about twice that (see `start`); a worker whose handler timed out or was abandoned
///   by the stop has its task cancelled (that is how the handler sees it) and ends when the
///   handler returns.
/// - **Stop**: no new reads, running handlers get until the drain deadline (and are
///   acknowledged or rejected as usual), handlers still running then are cancelled and
///   their entries left pending for redelivery after the visibility timeout; the
///   acknowledgements of finished handlers are flushed before it returns.
final class RedisStreamConsumer: QueueConsumer {
    let queue: String
    let options: QueueConsumerOptions

    private let node: RedisMessageQueue
    private let keys: RedisQueueKeys
    /// The node's shared client: acknowledgements, scripts, `CLIENT UNBLOCK`.
    private let client: RedisClient
    /// The consumer's own connection for `XREADGROUP` (blocking reads need their own).
    private let reader: RedisClient
    private let handler: QueueHandler
    private let logger: Logger
    private let onStop: @Sendable () -> Void
    /// Whether this consumer runs the node's start-up replay of the queue.
    private let replay: Bool
    private let clock = ContinuousClock()
    private let state: Mutex<State>
    /// Slots freed, runs settled, reads finished, acknowledgements sent, pause/resume/stop.
    private let changes = QueueWakeSignal()
    /// Acknowledgements queued.
    private let acksQueued = QueueWakeSignal()
    /// A run started whose deadline is earlier than the one the watchdog sleeps towards.
    private let deadlinesMoved = QueueWakeSignal()

    /// Entries per `XACK` batch, at most.
    static let ackBatchLimit = 1024

    /// One delivery handed to this consumer.
    private typealias Delivered = RedisQueueDelivery

    /// A delivery whose handler has not been settled yet.
    private struct Run {
        let entryID: String
        var deliveries: Int
        let message: QueueMessage
        let deadline: ContinuousClock.Instant
    }

    /// A handler worker, by ID (its index in `State.workers`; IDs of ended workers are reused).
    private struct Worker {
        /// The run handed to it, until it is settled, times out or is abandoned. Runs are
        /// filed by worker (each runs one at a time), not by entry ID: a job then costs no
        /// hashing of its entry ID (three lookups, ~1.2k instructions under callgrind).
        var run: Run?
        /// Its task, filed just after it was made (`nil` until then and once it ended).
        var task: Task<Void, Never>?
        /// Started and not ended.
        var live = false
        /// Its run timed out or was abandoned: its task is cancelled, and it ends when the
        /// handler returns (a cancelled task cannot run another handler).
        var doomed = false
        /// Counts the workers that had this ID, so that a late-filed task handle is never
        /// filed under a later worker.
        var generation = 0
    }

    /// A handler worker waiting for its next delivery (`nil`: end).
    private typealias IdleWorker = (id: Int, continuation: UnsafeContinuation<Delivered?, Never>)

    private struct State {
        var paused = false
        var stopping = false
        /// Unsettled runs (in `workers`): claims renewed, timeouts watched, drained on stop.
        var runCount = 0
        /// Handler tasks that have not returned (settled or not): the concurrency slots.
        var liveHandlers = 0
        /// Slots promised to the read in progress.
        var reserved = 0
        /// A read (replay or new entries) is in progress.
        var reading = false
        /// The reader waits for free slots, the flusher for acknowledgements: finishing
        /// handlers wake them only then (and only once), not on every completion.
        var readerWaiting = false
        var flusherWaiting = false
        /// Reject calls in progress.
        var settling = 0
        /// Entries whose handler returned, to acknowledge; and the batch being sent.
        var acks: [String] = []
        var acking: [String] = []
        /// The reader connection's `CLIENT ID`, while known, and while it blocks.
        var readerClientID: Int64?
        var blockedReader: Int64?
        /// When the watchdog wakes next (`nil`: only when told).
        var watchdogTarget: ContinuousClock.Instant?
        /// Handler workers, by ID, and the IDs of ended ones (reused first).
        var workers: [Worker] = []
        var freeWorkerIDs: [Int] = []
        /// Workers waiting for a delivery, the most recently idle last.
        var idleWorkers: [IdleWorker] = []
        /// Set once the stop abandoned what was left: workers end instead of waiting.
        var workersClosed = false
        var tasks: [Task<Void, Never>] = []
        var readTask: Task<Void, Never>?
        var stopTask: Task<Void, Never>?
    }

    init(queue: String, keys: RedisQueueKeys, node: RedisMessageQueue, client: RedisClient, reader: RedisClient,
         options: QueueConsumerOptions, replay: Bool, logger: Logger, onStop: @escaping @Sendable () -> Void,
         handler: @escaping QueueHandler) {
        self.queue = queue
        self.keys = keys
        self.node = node
        self.client = client
        self.reader = reader
        self.options = options
        self.handler = handler
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue)"
        self.logger = logger
        self.onStop = onStop
        self.replay = replay
        self.state = Mutex(State())
        // The read loop runs on its reader connection's thread and the acknowledgement
        // flusher on one of the node's connection threads (connection affinity): their
        // round trips then cost no hand-off to that thread and back to the cooperative
        // pool, and they do not queue behind other work on the pool (e.g. a publishing
        // node in the same process). Handlers run on the pool (see `start`).
        let readTask = Task { await self.reader.withConnectionAffinity { await self.readLoop() } }
        let tasks = [
            Task { await self.client.withConnectionAffinity { await self.flushAcknowledgements() } },
            Task { await self.enforceTimeouts() },
            Task { await self.maintain() },
        ]
        state.withLock {
            $0.readTask = readTask
            $0.tasks = tasks
        }
    }

    var inFlight: Int {
        get async { state.withLock { $0.liveHandlers } }
    }

    /// Stops taking entries; returns once the read in progress (ended at once if it was
    /// blocked) came back. Entries that read had already taken are run.
    func pause() async {
        state.withLock { $0.paused = true }
        changes.notifyAll()
        await endReadInProgress()
    }

    func resume() async {
        state.withLock { $0.paused = false }
        changes.notifyAll()
    }

    /// Stops the consumer (see the type's documentation). A second call waits for the first.
    func stop(drainTimeout: Duration) async {
        let task = state.withLock { state -> Task<Void, Never> in
            if let existing = state.stopTask { return existing }
            state.stopping = true
            let task = Task { await self.performStop(drainTimeout: drainTimeout) }
            state.stopTask = task
            return task
        }
        await task.value
    }

    // MARK: Reading

    /// How many entries the next read (or takeover) may take: reserves them, and marks a
    /// read in progress, under the lock.
    private enum Reservation { case stop, wait, slots(Int) }

    private func reserveSlots() -> Reservation {
        state.withLock { state in
            if state.stopping { return .stop }
            guard !state.paused, worthReading(state) else {
                state.readerWaiting = !state.paused
                return .wait
            }
            let free = options.concurrency - state.liveHandlers - state.reserved
            state.reserved += free
            state.reading = true
            return .slots(free)
        }
    }

    /// Whether enough slots are free for a read: any while no handler runs, else a
    /// quarter of them, so that one read takes several entries instead of one per
    /// finished handler.
    private func worthReading(_ state: State) -> Bool {
        let free = options.concurrency - state.liveHandlers - state.reserved
        return free >= (state.liveHandlers == 0 ? 1 : max(1, options.concurrency / 4))
    }

    private func readLoop() async {
        var failures = 0
        var replayCursor: String? = replay ? "0-0" : nil
        var replayBound = ""
        var drained = false
        // Abandoned entries are looked for between reads, at least this often, so a read
        // never blocks longer than that.
        let takeoverInterval = min(max(options.visibilityTimeout / 4, .milliseconds(10)), .seconds(1))
        var nextTakeover = clock.now
        var takeoverCursor = "0-0"
        while true {
            let observed = changes.generation
            let slots: Int
            switch reserveSlots() {
            case .stop: return
            case .wait:
                await changes.wait(after: observed)
                continue
            case .slots(let count): slots = count
            }
            if let gate = options.gate, !gate() {
                start([], reserved: slots, neverDelivered: true)
                await changes.wait(after: observed, orUntil: sleeper(for: options.gateInterval))
                continue
            }
            do throws(QueueError) {
                var delivered: [Delivered] = []
                // Entries of `XREADGROUP … >` were never delivered before: none can be one
                // this consumer runs already.
                var neverDelivered = false
                if replayCursor == nil, clock.now >= nextTakeover {
                    let (nextCursor, _, taken) = try await runMaintenance(cursor: takeoverCursor, slots: slots)
                    takeoverCursor = nextCursor
                    nextTakeover = clock.now.advanced(by: takeoverInterval)
                    delivered = taken
                    if !taken.isEmpty {
                        logger.info("took over queue messages whose holder stopped renewing them",
                                    metadata: ["entries": "\(taken.count)"])
                    }
                }
                if !delivered.isEmpty {
                    // Taken over: run them first, read new entries next turn.
                } else if let cursor = replayCursor {
                    let page = try await replayPage(after: cursor, bound: replayBound, count: slots)
                    replayBound = page.bound
                    replayCursor = page.next
                    delivered = page.entries
                    if !delivered.isEmpty {
                        logger.info("replaying pending queue entries left by an earlier process of this node",
                                    metadata: ["entries": "\(delivered.count)"])
                    }
                } else {
                    let blockFor = drained ? clock.now.duration(to: nextTakeover) : nil
                    delivered = try await readNew(count: slots, block: blockFor)
                    drained = delivered.count < slots
                    neverDelivered = true
                }
                start(delivered, reserved: slots, neverDelivered: neverDelivered)
                failures = 0
            } catch {
                start([], reserved: slots, neverDelivered: true)
                state.withLock { $0.readerClientID = nil }
                if state.withLock({ $0.stopping }) { return }
                if error.code == .closed {
                    logger.debug("queue adapter closed; consumer stops reading")
                    return
                }
                if error.message.contains("NOGROUP") {
                    try? await node.createGroup(keys)
                    continue
                }
                failures += 1
                let delay = Backoff.reconnect.delay(forRetry: failures)
                logger.warning("queue read failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                await changes.wait(after: changes.generation, orUntil: sleeper(for: delay))
            }
        }
    }

    /// `XREADGROUP … >` for up to `count` new entries; blocking for up to `block` (and
    /// interruptible by ``endReadInProgress()``) when it is given.
    private func readNew(count: Int, block: Duration?) async throws(QueueError) -> [Delivered] {
        var arguments: [any RedisArgument] = ["GROUP", RedisQueueKeys.group, node.nodeID.rawValue, "COUNT", count]
        var blocking = false
        if let block, block > .zero {
            let wait = min(block, options.gate == nil ? node.configuration.consumerPullWait : options.gateInterval)
            let clientID = try await readerClientID()
            // Registered under the lock that pause and stop take: either they see the
            // registration and unblock it, or this read sees them and does not block.
            blocking = state.withLock { state in
                guard !state.stopping, !state.paused else { return false }
                state.blockedReader = clientID
                return true
            }
            if !blocking { return [] }
            arguments += ["BLOCK", max(Int64(1), wait.wholeMillisecondsRoundedUp)]
        }
        defer { if blocking { state.withLock { $0.blockedReader = nil } } }
        arguments += ["STREAMS", keys.stream, ">"]
        let command = RedisCommand("XREADGROUP", arguments: arguments)
        // Decoded on the reader's thread straight from hiredis's parse (no reply tree); a
        // null reply (block timed out, or ended by `CLIENT UNBLOCK`) is no entries.
        return try await node.run { [queue] () throws(RedisError) in
            try await reader.send(command) { (reply) throws(RedisError) in try RedisQueueReplyDecoder.xreadgroup(reply, queue: queue) }
        }
    }

    private func readerClientID() async throws(QueueError) -> Int64 {
        if let known = state.withLock({ $0.readerClientID }) { return known }
        let id = try await node.run { () throws(RedisError) in try await reader.send(RedisCommand("CLIENT", "ID")).integer() }
        state.withLock { $0.readerClientID = id }
        return id
    }

    /// One page of the start-up replay; `next` is `nil` when it is done.
    private func replayPage(after cursor: String, bound: String, count: Int) async throws(QueueError)
        -> (bound: String, next: String?, entries: [Delivered]) {
        let reply = try await node.run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.replayHistory, keys: RedisQueueScripts.keys(keys),
                                      arguments: [RedisQueueKeys.group, node.nodeID.rawValue, cursor, bound, count])
        }
        return try node.decode { () throws(RedisError) in
            let parts = try reply.array()
            guard parts.count >= 2 else { throw RedisError(code: .protocolError, message: "malformed replay reply") }
            let bound = String(decoding: try parts[0].bytes() ?? [], as: UTF8.self)
            let next = String(decoding: try parts[1].bytes() ?? [], as: UTF8.self)
            return (bound, next.isEmpty ? nil : next, try deliveries(parts.dropFirst(2)))
        }
    }

    /// `{entry ID, delivery count, fields}` triples of a script reply.
    private func deliveries(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [Delivered] {
        try replies.map { (reply) throws(RedisError) -> Delivered in
            let parts = try reply.array()
            guard parts.count == 3 else { throw RedisError(code: .protocolError, message: "malformed queue delivery") }
            let entryID = String(decoding: try parts[0].bytes() ?? [], as: UTF8.self)
            let count = Int(try parts[1].integer())
            let (message, _) = try RedisQueueEntry.message(queue: queue, entryID: entryID, fields: parts[2], deliveries: count)
            return Delivered(entryID: entryID, deliveries: count, message: message)
        }
    }

    /// Ends a blocked read (`CLIENT UNBLOCK` from the shared client, retried briefly in case
    /// the read has not reached the server yet), then waits until no read is in progress.
    private func endReadInProgress() async {
        for _ in 0..<100 {
            guard let clientID = state.withLock({ $0.blockedReader }) else { break }
            let unblocked = try? await client.send(RedisCommand("CLIENT", "UNBLOCK", clientID)).integer()
            if unblocked == 1 { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        while true {
            let observed = changes.generation
            if !state.withLock({ $0.reading }) { return }
            await changes.wait(after: observed)
        }
    }

    // MARK: Running handlers

    /// Starts a run per delivery (an entry this consumer already runs only gets its new
    /// delivery count; not looked for when the entries were `neverDelivered`), releases the
    /// `reserved` slots and ends the read in progress.
    ///
    /// Each run is handed to a handler worker: an idle one (the most recently idle: its
    /// stack is warm) is resumed with it, or, while none is idle, a new one is started.
    /// Running handlers never exceed ``QueueConsumerOptions/concurrency`` (the slots), but
    /// a worker frees its slot a moment before it parks as idle: a read landing in that gap
    /// starts another worker, so worker tasks can reach about twice the concurrency (they
    /// stay parked until the stop). A worker is a long-lived task on the
    /// cooperative pool that runs one handler at a time, so a job costs a continuation
    /// resume instead of creating, scheduling and destroying a task (callgrind: ~2k
    /// instructions and 5 allocations per job).
    private func start(_ delivered: [Delivered], reserved: Int, neverDelivered: Bool) {
        let now = clock.now
        let (handOver, spawn, wakeWatchdog) = state.withLock { state -> ([(IdleWorker, Delivered)], [(Int, Int, Delivered)], Bool) in
            state.reserved -= reserved
            state.reading = false
            var handOver: [(IdleWorker, Delivered)] = []
            // Sized once: grown by appends it cost ~5 allocations per read of 32 entries.
            handOver.reserveCapacity(min(delivered.count, state.idleWorkers.count))
            var spawn: [(Int, Int, Delivered)] = []
            var wake = false
            var running: [String: Int] = [:]
            if !neverDelivered, !delivered.isEmpty {
                for (id, worker) in state.workers.enumerated() {
                    if let run = worker.run { running[run.entryID] = id }
                }
            }
            for delivery in delivered {
                if !running.isEmpty, let id = running[delivery.entryID] {
                    state.workers[id].run?.deliveries = delivery.deliveries
                    continue
                }
                // Far-future timeouts are capped so that the deadline cannot overflow the clock.
                let deadline = now.advanced(by: min(delivery.message.timeout, .seconds(365 * 86_400)))
                let worker: Int
                if let idle = state.idleWorkers.popLast() {
                    worker = idle.id
                    handOver.append((idle, delivery))
                } else {
                    if let reused = state.freeWorkerIDs.popLast() {
                        worker = reused
                    } else {
                        worker = state.workers.count
                        state.workers.append(Worker())
                    }
                    state.workers[worker].live = true
                    state.workers[worker].generation += 1
                    spawn.append((worker, state.workers[worker].generation, delivery))
                }
                state.liveHandlers += 1
                state.runCount += 1
                state.workers[worker].run = Run(entryID: delivery.entryID, deliveries: delivery.deliveries, message: delivery.message,
                                                deadline: deadline)
                if state.watchdogTarget.map({ deadline < $0 }) ?? true {
                    state.watchdogTarget = deadline
                    wake = true
                }
            }
            return (handOver, spawn, wake)
        }
        if wakeWatchdog { deadlinesMoved.notifyAll() }
        changes.notifyAll()
        for (idle, delivery) in handOver { idle.continuation.resume(returning: delivery) }
        guard !spawn.isEmpty else { return }
        // The tasks are created outside the lock (their handlers finish on other threads
        // and take it), then their handles filed for cancellation; a worker doomed
        // meanwhile (its run timed out or was abandoned) is cancelled at once.
        // On the cooperative pool, not on the reader's thread: an unstructured task does
        // not inherit the reader's task-executor preference (a test pins that handlers run
        // off the connection threads). No explicit `globalConcurrentExecutor` preference
        // either: a task with one pays a status-record walk under a lock on every
        // suspension and resumption (~1k instructions per job under callgrind).
        let tasks = spawn.map { worker, generation, delivery in
            (worker, generation, Task { await self.work(worker, first: delivery) })
        }
        let doomed = state.withLock { state -> [Task<Void, Never>] in
            var doomed: [Task<Void, Never>] = []
            for (worker, generation, task) in tasks {
                // Not live: it already ended (doomed, or closed by the stop).
                guard state.workers[worker].generation == generation, state.workers[worker].live else { continue }
                state.workers[worker].task = task
                if state.workers[worker].doomed { doomed.append(task) }
            }
            return doomed
        }
        for task in doomed { task.cancel() }
    }

    /// A handler worker: runs `first`, then every delivery it is handed, until it is
    /// doomed (its task was cancelled) or the stop closes the workers.
    private func work(_ worker: Int, first: Delivered) async {
        var delivery = first
        while await execute(delivery, worker: worker), let next = await nextDelivery(worker) {
            delivery = next
        }
    }

    /// Waits, idle, for the next delivery; `nil` once the stop closed the workers.
    private func nextDelivery(_ worker: Int) async -> Delivered? {
        // Resumed exactly once: by `start` (popped from `idleWorkers` under the lock), by
        // the stop (which empties `idleWorkers` under the lock), or here when already closed.
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Delivered?, Never>) in
            let closed = state.withLock { state -> Bool in
                guard !state.workersClosed else {
                    state.workers[worker].live = false
                    state.workers[worker].task = nil
                    return true
                }
                state.idleWorkers.append((worker, continuation))
                return false
            }
            if closed { continuation.resume(returning: nil) }
        }
    }

    /// Runs one delivery's handler on `worker` and settles it; `false` when the worker must
    /// end (doomed: its run timed out or was abandoned, and its task was cancelled).
    private func execute(_ delivery: Delivered, worker: Int) async -> Bool {
        let entryID = delivery.entryID
        let failure: (any Error)?
        do {
            try await handler(delivery.message)
            failure = nil
        } catch {
            failure = error
        }
        let (rejected, wakeFlusher, wakeOthers, keepWorking) = state.withLock { state -> (Run?, Bool, Bool, Bool) in
            state.liveHandlers -= 1
            var wakeFlusher = false
            // Gone: timed out (already rejected) or abandoned by a stop past its deadline.
            let run = state.workers[worker].run
            if run != nil {
                state.workers[worker].run = nil
                state.runCount -= 1
            }
            if run != nil, failure == nil {
                state.acks.append(entryID)
                wakeFlusher = state.flusherWaiting
                state.flusherWaiting = false
            } else if run != nil {
                state.settling += 1
            }
            var keepWorking = true
            if state.workers[worker].doomed {
                state.workers[worker].live = false
                state.workers[worker].doomed = false
                state.workers[worker].task = nil
                if !state.workersClosed { state.freeWorkerIDs.append(worker) }
                keepWorking = false
            }
            var wakeOthers = state.stopping
            if state.readerWaiting, worthReading(state) {
                state.readerWaiting = false
                wakeOthers = true
            }
            return (failure == nil ? nil : run, wakeFlusher, wakeOthers, keepWorking)
        }
        if wakeFlusher { acksQueued.notifyAll() }
        if wakeOthers { changes.notifyAll() }
        if let rejected, let failure {
            // In a task of its own, so that the worker is free again when its handler
            // returned; the stop waits for it
            // through `settling`.
            let reason = String(describing: failure)
            Task { await self.reject(entryID, rejected, reason: reason) }
        }
        return keepWorking
    }

    /// Takes the runs of the workers `isDue` picks (under the lock) and dooms those workers:
    /// they end once their handler returns. Returns the runs and the tasks to cancel (a
    /// task not filed yet is cancelled by the filing).
    private static func takeRuns(_ state: inout State, where isDue: (Run) -> Bool) -> ([Run], [Task<Void, Never>]) {
        var runs: [Run] = []
        var tasks: [Task<Void, Never>] = []
        for id in state.workers.indices {
            guard let run = state.workers[id].run, isDue(run) else { continue }
            runs.append(run)
            state.workers[id].run = nil
            state.workers[id].doomed = true
            if let task = state.workers[id].task { tasks.append(task) }
        }
        state.runCount -= runs.count
        return (runs, tasks)
    }

    /// Ends the workers (the stop, once it abandoned what was left): idle ones at once,
    /// busy ones when their handler returns.
    private func closeWorkers() {
        let idle = state.withLock { state -> [IdleWorker] in
            state.workersClosed = true
            defer { state.idleWorkers.removeAll() }
            for worker in state.idleWorkers {
                state.workers[worker.id].live = false
                state.workers[worker.id].task = nil
            }
            return state.idleWorkers
        }
        for worker in idle { worker.continuation.resume(returning: nil) }
    }

    /// Rejects a settled run through the queue's reject script (retry or dead letter).
    private func reject(_ entryID: String, _ run: Run, reason: String) async {
        do {
            let kept = try await node.reject(entryID: entryID, deliveries: run.deliveries, message: run.message, reason: reason, keys: keys)
            if !kept {
                logger.warning("a failed queue message was no longer held by this consumer; its new holder settles it",
                               metadata: ["message": "\(run.message.id)"])
            }
        } catch {
            logger.warning("could not reject a queue message; it will be redelivered after its visibility timeout",
                           metadata: ["message": "\(run.message.id)", "error": "\(error)"])
        }
        state.withLock { $0.settling -= 1 }
        changes.notifyAll()
    }

    /// Sends queued acknowledgements, one batch (`MULTI`, `XACK`, `XDEL`, `EXEC`) at a
    /// time. Runs until cancelled by the stop, after the final flush.
    private func flushAcknowledgements() async {
        var failures = 0
        while !Task.isCancelled {
            let observed = acksQueued.generation
            let batch = state.withLock { state -> [String] in
                guard !state.acks.isEmpty else {
                    state.flusherWaiting = true
                    return []
                }
                // Taken whole when it fits (the usual case): no copy of the IDs, no shifting
                // of the rest; the queue gets fresh room for as many (one allocation, as
                // the copy had, instead of regrowing from empty).
                var batch: [String] = []
                if state.acks.count <= Self.ackBatchLimit {
                    swap(&batch, &state.acks)
                    state.acks.reserveCapacity(batch.count)
                } else {
                    batch = Array(state.acks.prefix(Self.ackBatchLimit))
                    state.acks.removeFirst(batch.count)
                }
                state.acking = batch
                return batch
            }
            if batch.isEmpty {
                await acksQueued.wait(after: observed)
                continue
            }
            let commands = acknowledgement(of: batch)
            do throws(QueueError) {
                _ = try await node.run { () throws(RedisError) in try await client.transaction(commands) }
                failures = 0
                state.withLock { $0.acking = [] }
            } catch {
                // Kept (and their claims renewed) until a batch goes through; if the node
                // dies first they are redelivered after the visibility timeout.
                state.withLock { state in
                    state.acks.insert(contentsOf: batch, at: 0)
                    state.acking = []
                }
                if error.code == .closed { return }
                failures += 1
                let delay = Backoff.reconnect.delay(forRetry: failures)
                logger.warning("could not acknowledge queue messages; retrying",
                               metadata: ["messages": "\(batch.count)", "error": "\(error)", "retryIn": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
            changes.notifyAll()
        }
    }

    /// `XACK` and `XDEL` of `batch`, built from bytes: each entry ID is converted once and
    /// shared by both commands (as `[any RedisArgument]` every ID cost two arrays and
    /// ~900 instructions per acknowledged job under callgrind).
    private func acknowledgement(of batch: [String]) -> [RedisCommand] {
        let ids = batch.map { Array($0.utf8) }
        let stream = Array(keys.stream.utf8)
        return [
            RedisCommand([Self.xack, stream, Self.group] + ids),
            RedisCommand([Self.xdel, stream] + ids),
        ]
    }

    private static let xack = Array("XACK".utf8)
    private static let xdel = Array("XDEL".utf8)
    private static let group = Array(RedisQueueKeys.group.utf8)

    /// Rejects runs whose timeout passed (cancelling their handler), sleeping until the
    /// earliest deadline in between.
    private func enforceTimeouts() async {
        while !Task.isCancelled {
            let observed = deadlinesMoved.generation
            let now = clock.now
            let (expired, cancel, next) = state.withLock { state -> ([Run], [Task<Void, Never>], ContinuousClock.Instant?) in
                let (expired, cancel) = Self.takeRuns(&state) { $0.deadline <= now }
                var next: ContinuousClock.Instant?
                for worker in state.workers {
                    if let run = worker.run, next.map({ run.deadline < $0 }) ?? true { next = run.deadline }
                }
                state.settling += expired.count
                state.watchdogTarget = next
                return (expired, cancel, next)
            }
            for task in cancel { task.cancel() }
            for run in expired {
                logger.warning("queue handler timed out; attempt rejected",
                               metadata: ["message": "\(run.message.id)", "attempt": "\(run.message.attempt)"])
                await reject(run.entryID, run, reason: QueueError.timedOut(run.message.timeout).description)
            }
            if !expired.isEmpty { continue }
            if let next {
                await deadlinesMoved.wait(after: observed, orUntil: { [clock] in try? await clock.sleep(until: next, tolerance: nil) })
            } else {
                await deadlinesMoved.wait(after: observed)
            }
        }
    }

    // MARK: Claims and maintenance

    /// Renews claims every third of the visibility timeout; moves due delayed messages every
    /// poll interval (or when the next delayed message is due).
    private func maintain() async {
        let renewEvery = max(options.visibilityTimeout / 3, .milliseconds(1))
        var nextRenewal = clock.now.advanced(by: renewEvery)
        var nextMaintenance = clock.now
        while !Task.isCancelled {
            do {
                try await clock.sleep(until: min(nextRenewal, nextMaintenance), tolerance: nil)
            } catch {
                return
            }
            if clock.now >= nextRenewal {
                await renewClaims()
                nextRenewal = clock.now.advanced(by: renewEvery)
            }
            if clock.now >= nextMaintenance {
                var wait = node.configuration.pollInterval
                do throws(QueueError) {
                    let (_, dueIn, _) = try await runMaintenance(cursor: "0-0", slots: 0)
                    if let dueIn { wait = max(min(wait, dueIn), .milliseconds(1)) }
                } catch {
                    if error.code == .closed || Task.isCancelled { return }
                    logger.warning("could not move due delayed queue messages; retrying", metadata: ["error": "\(error)"])
                }
                nextMaintenance = clock.now.advanced(by: wait)
            }
        }
    }

    /// Resets the idle time of every entry this consumer holds.
    private func renewClaims() async {
        let held = state.withLock { state in state.workers.compactMap { $0.run?.entryID } + state.acks + state.acking }
        guard !held.isEmpty else { return }
        for chunk in stride(from: 0, to: held.count, by: Self.ackBatchLimit).map({ Array(held[$0..<min($0 + Self.ackBatchLimit, held.count)]) }) {
            do throws(QueueError) {
                let kept = try await node.run { () throws(RedisError) in
                    try await client.evaluate(RedisQueueScripts.renew, keys: RedisQueueScripts.keys(keys),
                                              arguments: [RedisQueueKeys.group, node.nodeID.rawValue] + chunk)
                }
                let keptIDs = Set(try node.decode { () throws(RedisError) in
                    try kept.array().map { (id) throws(RedisError) in String(decoding: try id.bytes() ?? [], as: UTF8.self) }
                })
                let lost = state.withLock { state in
                    let running = Set(state.workers.compactMap { $0.run?.entryID })
                    return chunk.filter { !keptIDs.contains($0) && running.contains($0) }
                }
                if !lost.isEmpty {
                    logger.warning("lost the claim on running queue messages; another consumer may process them",
                                   metadata: ["entries": "\(lost)"])
                }
            } catch {
                if error.code == .closed || Task.isCancelled { return }
                logger.warning("could not renew queue message claims", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One maintenance script run: moves due delayed messages into the stream and takes
    /// over up to `slots` abandoned entries (the caller has reserved the slots). Returns the
    /// next `XAUTOCLAIM` cursor, when the next delayed message is due, and the entries taken.
    private func runMaintenance(cursor: String, slots: Int) async throws(QueueError) -> (String, Duration?, [Delivered]) {
        let reply = try await node.run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.maintain, keys: RedisQueueScripts.keys(keys),
                                      arguments: [RedisQueueKeys.group, node.nodeID.rawValue,
                                                  max(Int64(1), options.visibilityTimeout.wholeMillisecondsRoundedUp), slots, cursor])
        }
        return try node.decode { () throws(RedisError) in
            let parts = try reply.array()
            guard parts.count >= 2 else { throw RedisError(code: .protocolError, message: "malformed maintenance reply") }
            let dueIn = try parts[1].integer()
            return (String(decoding: try parts[0].bytes() ?? [], as: UTF8.self), dueIn < 0 ? nil : Duration.milliseconds(dueIn),
                    try deliveries(parts.dropFirst(2)))
        }
    }

    // MARK: Stopping

    private func performStop(drainTimeout: Duration) async {
        let deadline = clock.now.advanced(by: max(drainTimeout, .zero))
        changes.notifyAll()
        await endReadInProgress()
        let readTask = state.withLock { $0.readTask }
        readTask?.cancel()
        await readTask?.value

        while true {
            let observed = changes.generation
            let busy = state.withLock { $0.runCount > 0 || $0.settling > 0 }
            if !busy || clock.now >= deadline { break }
            await changes.wait(after: observed, orUntil: { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) })
        }

        // Past the deadline: abandon what is left. Unsettled entries stay pending and are
        // taken over after the visibility timeout.
        let (abandoned, cancel) = state.withLock { state in Self.takeRuns(&state) { _ in true } }
        for task in cancel { task.cancel() }
        closeWorkers()
        if !abandoned.isEmpty {
            logger.warning("queue consumer stopped with handlers still running; their messages will be redelivered",
                           metadata: ["abandoned": "\(abandoned.count)"])
        }

        // Acknowledge what finished, within the drain deadline or a command timeout,
        // whichever is later.
        let flushDeadline = max(deadline, clock.now.advanced(by: client.configuration.commandTimeout))
        while true {
            let observed = changes.generation
            let pending = state.withLock { !$0.acks.isEmpty || !$0.acking.isEmpty || $0.settling > 0 }
            if !pending || clock.now >= flushDeadline { break }
            await changes.wait(after: observed, orUntil: { [clock] in try? await clock.sleep(until: flushDeadline, tolerance: nil) })
        }
        let tasks = state.withLock { $0.tasks }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await reader.close()
        onStop()
    }

    private func sleeper(for duration: Duration) -> @Sendable () async -> Void {
        let deadline = clock.now.advanced(by: duration)
        return { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) }
    }
}
