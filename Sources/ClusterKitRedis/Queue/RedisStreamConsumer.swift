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
///   a connection of its own, with `n` = free handler slots plus a small read-ahead (half the
///   concurrency, at least one entry: see `capacity`), so that a worker whose handler
///   returns finds the next entry read; at most ``QueueConsumerOptions/concurrency``
///   handlers ever run, and entries read ahead wait for this consumer's workers in order.
///   A read blocks only after the previous one came back short (the queue looked drained), for at most
///   ``RedisMessageQueue/Configuration/consumerPullWait`` (``QueueConsumerOptions/gateInterval``
///   with a gate); the connection's read timeout is longer than that. ``pause()`` and
///   ``stop(drainTimeout:)`` end a blocked read at once (`CLIENT UNBLOCK`) and return only
///   after the read in progress came back, so nothing is taken once `pause()` returned;
///   entries read ahead and not started are given back then (as on the stop, below), and
///   also when the gate is found closed, so no handler starts after `pause()` returned.
///   Trade-off of the read-ahead: an entry read ahead waits for this consumer's next free
///   worker even while another node is idle (as a RabbitMQ consumer's prefetch does).
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
///   resets the idle time of every entry it still holds (read ahead, running or waiting for
///   its acknowledgement) with one `XCLAIM … JUSTID` of their IDs, so no other node takes them
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
///   tasks (started as needed, see ``HandlerWorkers``), one handler at a time each: at most
///   ``QueueConsumerOptions/concurrency`` worker tasks exist and so at most that many
///   handlers run. A worker whose handler returned takes the next entry read without
///   parking. A worker whose handler timed out or was abandoned by the stop has its task
///   cancelled (that is how the handler sees it), keeps its slot, and ends when the handler
///   returns.
/// - **Stop**: no new reads; entries read and not started are given back at once (any
///   consumer's next takeover takes them, as the same attempt); running handlers get until
///   the drain deadline (and are acknowledged or rejected as usual), handlers still running
///   then are cancelled and their entries left pending for redelivery after the visibility
///   timeout; the acknowledgements of finished handlers are flushed before it returns.
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

    private typealias Workers = HandlerWorkers
    /// Far-future timeouts are capped at this, so that a deadline cannot overflow the clock
    /// (made once: building it costs ~150 instructions of 128-bit arithmetic).
    private static let longestTimeout = Duration.seconds(365 * 86_400)

    /// What a handler worker does next.
    private enum Step {
        case run(Delivered)
        case park
        case end
    }

    private struct State {
        var paused = false
        var stopping = false
        /// The gate said no at the read loop's last look (and it has not said yes since).
        var gateClosed = false
        /// A claim renewal is out with a snapshot of the held entries: a hand-back waits for
        /// it, so that the renewal cannot reset the idle time of entries just given back.
        var renewing = false
        /// Unsettled runs (in `runs`): claims renewed, timeouts watched, drained on stop.
        var runCount = 0
        /// Handlers that have not returned (settled or not).
        var liveHandlers = 0
        /// The runs, by handler worker (each runs one at a time; `nil`: none, or settled, or
        /// taken from it). Filed by worker, not by entry ID: a job then costs no hashing of
        /// its entry ID (three lookups, ~1.2k instructions under callgrind).
        var runs: [Run?]
        /// Entries read and not started yet, in order (from `pendingHead`): the workers'
        /// hand-off list. They and the running handlers hold the concurrency slots.
        var pending: [Delivered] = []
        var pendingHead = 0
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
        /// The handler workers (closed once the stop abandoned what was left).
        var workers: Workers
        var tasks: [Task<Void, Never>] = []
        var readTask: Task<Void, Never>?
        var stopTask: Task<Void, Never>?

        init(concurrency: Int) {
            runs = Array(repeating: nil, count: concurrency)
            workers = Workers(limit: concurrency)
        }

        var pendingCount: Int { pending.count - pendingHead }
        var hasPending: Bool { pending.count > pendingHead }
        /// Whether a worker may start the head of the hand-off list: not while paused, the
        /// gate is closed or the consumer stops (entries read ahead are given back then).
        var startable: Bool { hasPending && !paused && !gateClosed && !stopping }
        /// Slots held: running handlers and entries waiting for a worker.
        var held: Int { liveHandlers + pendingCount }
        var pendingIDs: [String] { pending[pendingHead...].map(\.entryID) }
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
        self.state = Mutex(State(concurrency: options.concurrency))
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
    /// blocked) came back and the entries read and not started were given back (as the stop
    /// does): no handler starts after it returned. Running handlers go on.
    func pause() async {
        state.withLock { $0.paused = true }
        changes.notifyAll()
        await endReadInProgress()
        await handBackPending()
    }

    func resume() async {
        let wake = state.withLock { state -> Workers.Wake in
            state.paused = false
            return state.startable ? state.workers.wake() : .none
        }
        changes.notifyAll()
        launch(wake)
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
            guard !state.paused, !state.gateClosed, worthReading(state) else {
                state.readerWaiting = !state.paused && !state.gateClosed
                return .wait
            }
            let free = capacity - state.held - state.reserved
            state.reserved += free
            state.reading = true
            return .slots(free)
        }
    }

    /// Entries held at most: the handler slots, and half as many again read ahead (at least
    /// one), so that workers whose handler returns find the next entry already read instead
    /// of parking while the next read is out to Redis. An entry read ahead waits for a free
    /// worker of this consumer, in order, even if another node is idle meanwhile.
    private var capacity: Int { options.concurrency + max(1, options.concurrency / 2) }

    /// Whether enough slots are free for a read: any while no handler runs, else a
    /// quarter of the concurrency, so that one read takes several entries instead of one
    /// per finished handler.
    private func worthReading(_ state: State) -> Bool {
        let free = capacity - state.held - state.reserved
        return free >= (state.held == 0 ? 1 : max(1, options.concurrency / 4))
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
            // Asked before every read and, while every slot is held or the gate is closed,
            // at least every gate interval, so that entries read ahead do not start once it
            // closed.
            if let gate = options.gate { await askGate(gate) }
            let slots: Int
            switch reserveSlots() {
            case .stop: return
            case .wait:
                if options.gate == nil {
                    await changes.wait(after: observed)
                } else {
                    await changes.wait(after: observed, orUntil: sleeper(for: options.gateInterval))
                }
                continue
            case .slots(let count): slots = count
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

    /// Asks the gate (on the read loop, never under the lock): while it is closed no read
    /// is made and no entry starts, and the entries read ahead are given back (for another
    /// node, or for later); when it opens again the workers are woken.
    private func askGate(_ gate: @Sendable () -> Bool) async {
        let open = gate()
        let wake = state.withLock { state -> Workers.Wake in
            let reopened = open && state.gateClosed
            state.gateClosed = !open
            return reopened && state.startable ? state.workers.wake() : .none
        }
        launch(wake)
        if !open { await handBackPending() }
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

    /// Hands the deliveries to the handler workers (an entry this consumer already runs or
    /// holds only gets its new delivery count; not looked for when the entries were
    /// `neverDelivered`), releases the `reserved` slots and ends the read in progress.
    ///
    /// The deliveries go to the end of the workers' hand-off list (`pending`), and one worker
    /// is woken (or started) for them; it wakes the next while entries remain, and a worker
    /// whose handler returned takes the next entry itself (see ``HandlerWorkers``). So at
    /// most ``QueueConsumerOptions/concurrency`` worker tasks exist (doomed ones included:
    /// they hold their slot until their handler returns), each a long-lived task on the
    /// cooperative pool running one handler at a time, and a read's entries are mostly run
    /// by workers already running instead of one resumed per entry.
    private func start(_ delivered: [Delivered], reserved: Int, neverDelivered: Bool) {
        let wake = state.withLock { state -> Workers.Wake in
            state.reserved -= reserved
            state.reading = false
            if state.pendingHead > 0 {
                // What is left moves to the front (at most a read's worth), so the list's
                // storage stays the size of a read.
                state.pending.removeFirst(state.pendingHead)
                state.pendingHead = 0
            }
            // Entries held already, by entry ID: a run by its worker's ID `w` as `-1 - w`, a
            // waiting entry by its index in `pending`.
            var known: [String: Int] = [:]
            if !neverDelivered, !delivered.isEmpty {
                for (id, run) in state.runs.enumerated() {
                    if let run { known[run.entryID] = -1 - id }
                }
                for index in state.pending.indices { known[state.pending[index].entryID] = index }
            }
            for delivery in delivered {
                if !known.isEmpty, let index = known[delivery.entryID] {
                    if index < 0 {
                        state.runs[-1 - index]?.deliveries = delivery.deliveries
                    } else {
                        state.pending[index] = delivery
                    }
                    continue
                }
                state.pending.append(delivery)
            }
            return state.startable ? state.workers.wake() : .none
        }
        changes.notifyAll()
        launch(wake)
    }

    /// Does what `wake` asked after the lock: resumes a parked worker or starts a new one.
    private func launch(_ wake: Workers.Wake) {
        // A new worker's task is created outside the lock (handlers finish on other threads
        // and take it), then its handle filed for cancellation. On the cooperative pool, not
        // on the reader's thread: an unstructured task does not inherit the reader's
        // task-executor preference (a test pins that handlers run off the connection
        // threads). No explicit `globalConcurrentExecutor` preference either: a task with one
        // pays a status-record walk under a lock on every suspension and resumption (~1k
        // instructions per job under callgrind).
        Workers.perform(wake, start: { worker in Task { await self.work(worker) } },
                        file: { task, spawn in state.withLock { $0.workers.file(task, for: spawn) } })
    }

    /// Takes the head of the hand-off list for `worker` and files its run (its timeout starts
    /// now), waking the next worker while entries remain; `.park` when the list is empty.
    private func takeNext(_ state: inout State, worker: Int) -> (Step, Workers.Wake, deadlineMoved: Bool) {
        guard state.startable else { return (.park, .none, false) }
        let delivery = state.pending[state.pendingHead]
        state.pendingHead += 1
        if state.pendingHead == state.pending.count {
            state.pending.removeAll(keepingCapacity: true)
            state.pendingHead = 0
        }
        let deadline = clock.now.advanced(by: min(delivery.message.timeout, Self.longestTimeout))
        state.liveHandlers += 1
        state.runCount += 1
        state.runs[worker] = Run(entryID: delivery.entryID, deliveries: delivery.deliveries, message: delivery.message,
                                 deadline: deadline)
        var moved = false
        if state.watchdogTarget.map({ deadline < $0 }) ?? true {
            state.watchdogTarget = deadline
            moved = true
        }
        return (.run(delivery), state.startable ? state.workers.wake() : .none, moved)
    }

    /// A handler worker: looks at the hand-off list, runs what it takes, and goes on with the
    /// next entry or parks, until it is doomed (its task was cancelled) or the stop closes
    /// the workers.
    private func work(_ worker: Int) async {
        var step = arrive(worker)
        while true {
            switch step {
            case .run(let delivery): step = await execute(delivery, worker: worker)
            case .park:
                let lookAgain = await Workers.parkWorker { waiter in
                    state.withLock { $0.workers.park(worker, waiter, unless: $0.startable) }
                }
                step = lookAgain ? arrive(worker) : .end
            case .end: return
            }
        }
    }

    /// A woken or new worker's first look at the hand-off list.
    private func arrive(_ worker: Int) -> Step {
        let (step, wake, moved) = state.withLock { state -> (Step, Workers.Wake, Bool) in
            guard state.workers.arrived(worker) else { return (.end, .none, false) }
            return takeNext(&state, worker: worker)
        }
        if moved { deadlinesMoved.notifyAll() }
        launch(wake)
        return step
    }

    /// Runs one delivery's handler on `worker`, settles it, and says what the worker does
    /// next: the next entry of the hand-off list (without parking), park, or end (doomed:
    /// its run timed out or was abandoned, and its task was cancelled; or closed).
    @inline(__always)
    private func execute(_ delivery: Delivered, worker: Int) async -> Step {
        let entryID = delivery.entryID
        let failure: (any Error)?
        do {
            try await handler(delivery.message)
            failure = nil
        } catch {
            failure = error
        }
        let (rejected, wakeFlusher, wakeOthers, next) = state.withLock { state -> (Run?, Bool, Bool, (Step, Workers.Wake, Bool)) in
            state.liveHandlers -= 1
            var wakeFlusher = false
            // Gone: timed out (already rejected) or abandoned by a stop past its deadline.
            let run = state.runs[worker]
            if run != nil {
                state.runs[worker] = nil
                state.runCount -= 1
            }
            if run != nil, failure == nil {
                state.acks.append(entryID)
                wakeFlusher = state.flusherWaiting
                state.flusherWaiting = false
            } else if run != nil {
                state.settling += 1
            }
            // A doomed worker ends here; its slot is free now, so another may start.
            let next = state.workers.finished(worker) ? takeNext(&state, worker: worker)
                : (.end, state.startable ? state.workers.wake() : .none, false)
            var wakeOthers = state.stopping
            if state.readerWaiting, worthReading(state) {
                state.readerWaiting = false
                wakeOthers = true
            }
            return (failure == nil ? nil : run, wakeFlusher, wakeOthers, next)
        }
        if wakeFlusher { acksQueued.notifyAll() }
        if wakeOthers { changes.notifyAll() }
        if next.2 { deadlinesMoved.notifyAll() }
        launch(next.1)
        if let rejected, let failure {
            // In a task of its own, so that the worker is free again when its handler
            // returned; the stop waits for it through `settling`.
            let reason = String(describing: failure)
            Task { await self.reject(entryID, rejected, reason: reason) }
        }
        return next.0
    }

    /// Takes the runs of the workers `isDue` picks (under the lock) and dooms those workers:
    /// they end once their handler returns. Returns the runs and the tasks to cancel (a
    /// task not filed yet is cancelled by the filing).
    private static func takeRuns(_ state: inout State, where isDue: (Run) -> Bool) -> ([Run], [Task<Void, Never>]) {
        var runs: [Run] = []
        var tasks: [Task<Void, Never>] = []
        for id in state.runs.indices {
            guard let run = state.runs[id], isDue(run) else { continue }
            runs.append(run)
            state.runs[id] = nil
            if let task = state.workers.doom(id) { tasks.append(task) }
        }
        state.runCount -= runs.count
        return (runs, tasks)
    }

    /// Ends the workers (the stop, once it abandoned what was left): idle ones at once,
    /// busy ones when their handler returns.
    private func closeWorkers() {
        let parked = state.withLock { $0.workers.close() }
        for worker in parked { worker.resume(returning: false) }
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
                for case let run? in state.runs where next.map({ run.deadline < $0 }) ?? true {
                    next = run.deadline
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

    /// Resets the idle time of every entry this consumer holds. An entry read ahead whose
    /// claim is found lost (another consumer took it over after renewals failed for a whole
    /// visibility timeout) is dropped from the hand-off list: it is the other consumer's now.
    private func renewClaims() async {
        let held = state.withLock { state -> [String] in
            let held = state.runs.compactMap { $0?.entryID } + state.pendingIDs + state.acks + state.acking
            state.renewing = !held.isEmpty
            return held
        }
        guard !held.isEmpty else { return }
        defer {
            state.withLock { $0.renewing = false }
            changes.notifyAll()
        }
        for chunk in stride(from: 0, to: held.count, by: Self.ackBatchLimit).map({ Array(held[$0..<min($0 + Self.ackBatchLimit, held.count)]) }) {
            do throws(QueueError) {
                let kept = try await node.run { () throws(RedisError) in
                    try await client.evaluate(RedisQueueScripts.renew, keys: RedisQueueScripts.keys(keys),
                                              arguments: [RedisQueueKeys.group, node.nodeID.rawValue] + chunk)
                }
                let keptIDs = Set(try node.decode { () throws(RedisError) in
                    try kept.array().map { (id) throws(RedisError) in String(decoding: try id.bytes() ?? [], as: UTF8.self) }
                })
                let (lost, dropped) = state.withLock { state -> ([String], [String]) in
                    let gone = Set(chunk.filter { !keptIDs.contains($0) })
                    guard !gone.isEmpty else { return ([], []) }
                    let running = state.runs.compactMap { $0?.entryID }.filter { gone.contains($0) }
                    let dropped = state.pendingIDs.filter { gone.contains($0) }
                    if !dropped.isEmpty {
                        state.pending = state.pending[state.pendingHead...].filter { !gone.contains($0.entryID) }
                        state.pendingHead = 0
                    }
                    return (running, dropped)
                }
                if !lost.isEmpty {
                    logger.warning("lost the claim on running queue messages; another consumer may process them",
                                   metadata: ["entries": "\(lost)"])
                }
                if !dropped.isEmpty {
                    logger.warning("lost the claim on queue messages read ahead; not running them here",
                                   metadata: ["entries": "\(dropped)"])
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
        await handBackPending()

        while true {
            let observed = changes.generation
            let busy = state.withLock { $0.runCount > 0 || $0.settling > 0 || $0.pendingCount > 0 }
            if !busy || clock.now >= deadline { break }
            await changes.wait(after: observed, orUntil: { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) })
        }

        // Past the deadline: abandon what is left. Unsettled entries, and entries read and
        // not started, stay pending and are taken over after the visibility timeout.
        let (abandoned, cancel) = state.withLock { state in
            let (runs, cancel) = Self.takeRuns(&state) { _ in true }
            let abandoned = runs.count + state.pendingCount
            state.pending.removeAll()
            state.pendingHead = 0
            return (abandoned, cancel)
        }
        for task in cancel { task.cancel() }
        closeWorkers()
        if abandoned > 0 {
            logger.warning("queue consumer stopped with handlers still running; their messages will be redelivered",
                           metadata: ["abandoned": "\(abandoned)"])
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

    /// Gives back the entries read and not started (the stop, a pause, a closed gate): no
    /// worker takes them any more, and they look abandoned at once to the next takeover of any consumer, without
    /// an attempt counted for them (see ``RedisQueueScripts/handBack``). If that fails they
    /// stay pending and are taken over after the visibility timeout.
    private func handBackPending() async {
        var entries: [Delivered] = []
        while true {
            // Taken only while no claim renewal is out: one that took its snapshot before
            // would reset the idle time of the entries given back.
            let observed = changes.generation
            let taken = state.withLock { state -> Bool in
                guard !state.renewing || !state.hasPending else { return false }
                entries = Array(state.pending[state.pendingHead...])
                state.pending.removeAll()
                state.pendingHead = 0
                return true
            }
            if taken { break }
            await changes.wait(after: observed)
        }
        guard !entries.isEmpty else { return }
        var arguments: [any RedisArgument] = [RedisQueueKeys.group, node.nodeID.rawValue,
                                              max(Int64(1), options.visibilityTimeout.wholeMillisecondsRoundedUp)]
        for entry in entries { arguments += [entry.entryID, entry.deliveries] }
        do throws(QueueError) {
            _ = try await node.run { () throws(RedisError) in
                try await client.evaluate(RedisQueueScripts.handBack, keys: RedisQueueScripts.keys(keys), arguments: arguments)
            }
        } catch {
            logger.warning("could not give back queue messages read ahead; they will be redelivered after their visibility timeout",
                           metadata: ["entries": "\(entries.count)", "error": "\(error)"])
        }
        changes.notifyAll()
    }

    private func sleeper(for duration: Duration) -> @Sendable () async -> Void {
        let deadline = clock.now.advanced(by: duration)
        return { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) }
    }
}
