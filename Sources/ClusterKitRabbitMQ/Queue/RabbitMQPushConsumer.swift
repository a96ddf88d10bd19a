import ClusterKit
import Logging
import Synchronization

/// The `rabbitmq` adapter's consumer: a `basic.consume` subscription on its own connection
/// (``RabbitMQConsumerConnection``), the broker pushing up to `prefetch` unacknowledged
/// messages ahead of the handlers.
///
/// ## What it guarantees
/// - **Bounded concurrency**: at most ``QueueConsumerOptions/concurrency`` handlers run at
///   once; a slot is freed when the handler has really returned and was settled (a failure's
///   retry or dead letter confirmed). Deliveries beyond that wait in arrival order, and
///   start in that order (one after the other for concurrency 1).
/// - **Acknowledgements** are sent by the connection's loop, batched with `multiple` over
///   the longest settled run of delivery tags, never twice for one tag (a tag settled
///   behind a running one waits, up to 10 ms, for a later `multiple` to cover it).
/// - **Failures** (a throw, the enforced per-message timeout, a cancelled handler) re-publish
///   the message to the delay chain for its backoff, or to the dead-letter queue after its
///   last attempt, wait for the confirm, then acknowledge the delivery. Should that
///   re-publish fail (the broker unreachable for publishing, the dead-letter queue deleted),
///   the delivery is handed back to the queue (`basic.nack` with requeue) once the backoff
///   the retry would have waited is over, and is redelivered as the next attempt: nothing
///   is lost, and a handler is not run again at once in a loop while publishing fails
///   (such a failure is not counted towards `maxAttempts`: see `requeue(_:)`).
/// - **Gate and pause**: a closed gate (asked every ``QueueConsumerOptions/gateInterval``)
///   or ``pause()`` cancels the subscription (`basic.cancel`). Deliveries already pushed but
///   not handed to a handler are given back by re-publishing them unchanged (same ID and
///   attempt) and then acknowledging them, so nothing is lost, nothing is acknowledged
///   twice, and the attempt is not raised for a message no handler saw (one that cannot be
///   re-published is handed back with `basic.nack` instead, and counts as redelivered).
///   ``pause()`` returns
///   only once the subscription is cancelled and the buffer given back, so a message
///   published after it returns is neither pushed to this consumer nor overtaken by a
///   given-back one. Running handlers go on.
/// - **No visibility timeout**: a delivery is this consumer's for as long as its connection
///   lives; when the connection or the process ends the broker requeues it at once, and its
///   next delivery counts as the next attempt. ``QueueConsumerOptions/visibilityTimeout``
///   is therefore not used. After a reconnect the handlers of the old connection's
///   deliveries are cancelled (their messages are already back in the queue) and the
///   subscription is made again.
/// - **Graceful stop**: ``stop(drainTimeout:)`` cancels the subscription, gives back what
///   was not started, lets running handlers finish until the deadline (acknowledging or
///   retrying them as usual), then cancels the rest and closes the connection, which
///   requeues their messages (redelivered as the next attempt).
/// - **Threads**: handlers, the application's code, run on the cooperative pool in
///   long-lived worker tasks (started as needed, see ``HandlerWorkers``), one handler at a
///   time each: at most ``QueueConsumerOptions/concurrency`` worker tasks exist, so at most
///   that many handlers run. A worker whose handler returned takes the next delivery without
///   parking. A worker whose handler timed out, was abandoned by the stop or lost its
///   connection has its task cancelled (that is how the handler sees it), keeps its slot,
///   and ends when the handler returns: a cancelled task never runs another one.
final class RabbitMQPushConsumer: QueueConsumer {
    let queue: String
    let options: QueueConsumerOptions

    typealias Receipt = (epoch: UInt64, tag: UInt64)

    private let connection: RabbitMQConsumerConnection
    private let handler: QueueHandler
    private let retry: @Sendable (QueueMessage, String) async throws -> Void
    private let giveBack: @Sendable (QueueMessage) async throws -> Void
    private let logger: Logger
    private let onStop: @Sendable () -> Void
    private let state: Mutex<State>

    private struct Run {
        var receipt: Receipt
        var message: QueueMessage
        /// The handler worker running it (an index into `State.workers`).
        var worker: Int
        /// When the handler's time is up (its message's timeout after it started).
        var deadline: ContinuousClock.Instant
    }

    private typealias Workers = HandlerWorkers

    /// A delivery a worker took from the buffer, with the ID its run gets in `State.runs`.
    private typealias Job = (id: UInt64, delivery: RabbitMQConsumerConnection.Delivery)
    /// Far-future timeouts are capped at this, so that a deadline cannot overflow the clock
    /// (made once: building it costs ~150 instructions of 128-bit arithmetic).
    private static let longestTimeout = Duration.seconds(365 * 86_400)

    /// What a handler worker does next.
    private enum Step {
        case run(Job)
        case park
        case end
    }

    private struct State {
        var paused = false
        var stopping = false
        /// Set once the drain is over: the loop flushes acknowledgements and ends.
        var finished = false
        var epoch: UInt64 = 0
        /// Pushed by the broker, not yet handed to a handler.
        var buffer: [RabbitMQConsumerConnection.Delivery] = []
        var bufferHead = 0
        var runs: [UInt64: Run] = [:]
        /// No run's deadline comes before this (a lower bound; `nil` when no run has one):
        /// the loop looks for timed-out runs only once it has passed.
        var nextExpiry: ContinuousClock.Instant?
        var nextRunID: UInt64 = 0
        /// Handlers that have not returned and been settled (taken from the buffer).
        var liveHandlers = 0
        /// Deliveries taken from the buffer whose run is not filed yet (being decoded).
        var starting = 0
        /// The handler workers, which take their deliveries from the buffer (closed once
        /// the stop abandoned what was left, or the loop ended).
        var workers: Workers
        var settling = 0
        var acknowledgements: [Receipt] = []
        /// Deliveries to hand back to the queue (`basic.nack`, requeue): settling failed.
        var requeues: [Receipt] = []
        var loop: Task<Void, Never>?
        var stopTask: Task<Void, Never>?
        var gateOpen = true
        var gateCheckedAt: ContinuousClock.Instant?
        /// `pause()` calls waiting for the subscription to be cancelled.
        var pauseWaiters: [CheckedContinuation<Void, Never>] = []
        /// The loop has returned: nothing will resume waiters any more.
        var loopEnded = false
        /// The loop waits on `loopSignal` while the prefetch window is full (see
        /// `awaitSettled`); cleared by whoever raises it.
        var loopWaits = false
        let loopSignal = WakeSignal()

        var buffered: Int { buffer.count - bufferHead }

        /// Whether the loop, waiting while the prefetch window is full, has something to do:
        /// an acknowledgement to reopen the window, nothing left running, or a pause or stop
        /// to carry out.
        var loopMayGoOn: Bool {
            !acknowledgements.isEmpty || !requeues.isEmpty || (runs.isEmpty && settling == 0) || paused || stopping || finished
        }

        /// Wakes the loop if it waits and may go on: called after every change that can
        /// satisfy `loopMayGoOn`. At most one raise per wait, and none while the loop runs.
        mutating func wakeLoopIfDue() {
            guard loopWaits, loopMayGoOn else { return }
            loopWaits = false
            loopSignal.raise()
        }

        init(concurrency: Int) {
            workers = Workers(limit: concurrency)
        }

        /// Whether a worker may take a buffered delivery now (only free workers take one, so
        /// the concurrency bound is the workers').
        var startable: Bool { !stopping && !paused && gateOpen && buffered > 0 }
    }

    private enum Outcome {
        case succeeded
        case failed(any Error)
        case timedOut(Duration)
    }

    init(queue: String, connection: RabbitMQConsumerConnection, options: QueueConsumerOptions, logger: Logger,
         retry: @escaping @Sendable (QueueMessage, String) async throws -> Void,
         giveBack: @escaping @Sendable (QueueMessage) async throws -> Void,
         onStop: @escaping @Sendable () -> Void, handler: @escaping QueueHandler) {
        self.queue = queue
        self.connection = connection
        self.options = options
        self.handler = handler
        self.retry = retry
        self.giveBack = giveBack
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue)"
        self.logger = logger
        self.onStop = onStop
        self.state = Mutex(State(concurrency: options.concurrency))
        // On the cooperative pool. On the connection's thread (`executorPreference`) its
        // calls into the connection would be no thread hand-off, but the consume rate fell
        // (medians 44k -> 28k messages per second, rabbitmq-consume, 10 runs each).
        let loop = Task { await self.run() }
        state.withLock { $0.loop = loop }
    }

    var inFlight: Int {
        get async { state.withLock { $0.liveHandlers } }
    }

    /// Stops taking deliveries; returns once the subscription is cancelled and the
    /// deliveries pushed before that are given back (or the consumer has ended).
    func pause() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let returnNow = state.withLock { state -> Bool in
                state.paused = true
                state.wakeLoopIfDue()
                if state.finished || state.loopEnded { return true }
                state.pauseWaiters.append(continuation)
                return false
            }
            if returnNow { continuation.resume() }
        }
    }

    private func resumePauseWaiters() {
        let waiters = state.withLock { state in
            defer { state.pauseWaiters.removeAll() }
            return state.pauseWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func resume() async {
        state.withLock { $0.paused = false }
    }

    func stop(drainTimeout: Duration) async {
        let task = state.withLock { state -> Task<Void, Never> in
            if let existing = state.stopTask { return existing }
            state.stopping = true
            state.wakeLoopIfDue()
            let task = Task { await self.performStop(drainTimeout: drainTimeout) }
            state.stopTask = task
            return task
        }
        await task.value
    }

    // MARK: The loop

    /// Pumps the connection: sends acknowledgements, keeps the subscription in line with
    /// the gate/pause/stop, takes deliveries and starts handlers.
    private func run() async {
        defer {
            state.withLock { $0.loopEnded = true }
            resumePauseWaiters()
            // Nothing hands out jobs any more: idle workers end now, busy ones after their job.
            closeWorkers()
        }
        var failures = 0
        var windowFull = false
        while true {
            if windowFull { await awaitSettled() }
            let subscribe = wantsDeliveries()
            let (acknowledgements, requeues, busy, finished) = state.withLock { state in
                defer {
                    state.acknowledgements.removeAll()
                    state.requeues.removeAll()
                }
                return (state.acknowledgements, state.requeues, !state.runs.isEmpty || state.settling > 0, state.finished)
            }
            // Short waits while handlers are running, so their acknowledgements go out soon;
            // longer ones when idle (a delivery ends the wait at once either way). 1 ms: what
            // the former 2 ms wait lasted before AMQPConnection stopped rabbitmq-c from
            // truncating waits to whole milliseconds left.
            let wait: Duration = finished ? .zero : busy || !acknowledgements.isEmpty ? .milliseconds(1)
                : options.gate == nil ? .milliseconds(50) : min(options.gateInterval, .milliseconds(50))
            do {
                let (epoch, deliveries, full) = try await connection.pump(acknowledge: acknowledgements, requeue: requeues,
                                                                          subscribe: subscribe, wait: wait)
                windowFull = full
                failures = 0
                received(deliveries, epoch: epoch)
            } catch let error where error.code == .closed {
                return
            } catch {
                // The connection is gone: the broker requeued everything it had delivered,
                // and nothing is subscribed, so a pending pause() is satisfied.
                failures += 1
                windowFull = false
                received([], epoch: .max)
                resumePauseWaiters()
                if state.withLock({ $0.finished }) { return }
                let delay = Backoff.reconnect.delay(forRetry: failures)
                logger.warning("queue consumer connection failed; reconnecting", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                try? await Task.sleep(for: min(delay, .milliseconds(500)))
                continue
            }
            if finished { return }
            expireOverdueRuns()
            if !subscribe {
                await giveBackBuffered()
                // The subscription is cancelled and nothing pushed is left unstarted: a
                // pending pause() may return.
                resumePauseWaiters()
            }
            dispatch()
        }
    }

    /// While the prefetch window is full the broker pushes nothing, so waiting on the
    /// socket would only delay the acknowledgements that reopen it: wait instead (blocking
    /// the connection's thread, which has nothing to read; no timer, no task, nothing on
    /// the cooperative pool) until a handler settles (see `State.loopMayGoOn`; the settling
    /// worker raises the signal, once per wait) or the consumer pauses or stops, for at
    /// most ``settleBackstop``, so that per-message timeouts and the gate are still looked
    /// at.
    private func awaitSettled() async {
        let deadline = ContinuousClock.now.advanced(by: Self.settleBackstop)
        let signal = state.withLock { $0.loopSignal }
        repeat {
            // A raise left from an earlier wait (its raiser saw `loopWaits` before the loop
            // cleared it) must not end this one.
            signal.reset()
            let goOn = state.withLock { state in
                state.loopWaits = !state.loopMayGoOn
                return !state.loopWaits
            }
            if goOn { return }
            await connection.wait(for: signal, until: deadline)
            state.withLock { $0.loopWaits = false }
        } while ContinuousClock.now < deadline
    }

    /// The longest the loop waits for settled deliveries while the prefetch window is full.
    static let settleBackstop = Duration.milliseconds(2)

    private func wantsDeliveries() -> Bool {
        let gate = options.gate
        return state.withLock { state in
            if let gate {
                let now = ContinuousClock.now
                if state.gateCheckedAt.map({ now - $0 >= options.gateInterval }) ?? true {
                    state.gateCheckedAt = now
                    state.gateOpen = gate()
                }
            }
            return !state.paused && !state.stopping && state.gateOpen
        }
    }

    /// Adds deliveries; a new epoch (or `.max` for a lost connection) first forgets
    /// everything of the old one: the broker has requeued those messages, so their
    /// unstarted deliveries are dropped and their running handlers cancelled.
    private func received(_ deliveries: [RabbitMQConsumerConnection.Delivery], epoch: UInt64) {
        let (orphans, cancel) = state.withLock { state -> ([Run], [Task<Void, Never>]) in
            var orphans: [Run] = []
            var cancel: [Task<Void, Never>] = []
            if epoch != state.epoch {
                state.epoch = epoch
                state.buffer.removeAll()
                state.bufferHead = 0
                state.acknowledgements.removeAll()
                state.requeues.removeAll()
                (orphans, cancel) = Self.takeRuns(&state) { $0.receipt.epoch != epoch }
            }
            state.buffer += deliveries
            return (orphans, cancel)
        }
        for task in cancel { task.cancel() }
        if !orphans.isEmpty {
            logger.warning("queue consumer lost its connection; the running handlers' messages were requeued and their handlers cancelled",
                           metadata: ["cancelled": "\(orphans.count)"])
        }
    }

    /// Gets a handler worker on its way to the buffer, if it has a delivery that may start
    /// and none is on its way yet (see ``HandlerWorkers``).
    private func dispatch() {
        launch(state.withLock { $0.startable ? $0.workers.wake() : .none })
    }

    /// Re-publishes the deliveries no handler saw (unchanged), then acknowledges them; hands
    /// back with `basic.nack` those that could not be re-published.
    private func giveBackBuffered() async {
        let (deliveries, epoch) = state.withLock { state in
            defer {
                state.buffer.removeAll()
                state.bufferHead = 0
            }
            return (Array(state.buffer[state.bufferHead...]), state.epoch)
        }
        guard !deliveries.isEmpty else { return }
        // One after the other, so that they go back in the order they came.
        var given: [Receipt] = []
        var requeued: [Receipt] = []
        for delivery in deliveries {
            let message = RabbitMQMessageCodec.message(delivery.incoming, queue: queue)
            do {
                try await giveBack(message)
                given.append((delivery.epoch, delivery.tag))
            } catch {
                // The subscription is cancelled, so the broker redelivers it to other consumers.
                requeued.append((delivery.epoch, delivery.tag))
                logger.warning("could not give back a prefetched message; it goes back to the queue as redelivered",
                               metadata: ["message": "\(message.id)", "error": "\(error)"])
            }
        }
        state.withLock { state in
            guard state.epoch == epoch else { return }
            state.acknowledgements += given
            state.requeues += requeued
        }
    }

    // MARK: Handlers

    /// Does what `wake` asked after the lock: resumes a parked worker or starts a new one.
    /// A worker is a long-lived task on the cooperative pool that runs one handler at a time
    /// and takes its deliveries from the buffer itself, the next one as soon as its handler
    /// returned (without parking), so a message costs no task and, in a round of deliveries,
    /// mostly no wake-up either.
    private func launch(_ wake: Workers.Wake) {
        // A new worker's task is created outside the lock (handlers finish on other threads
        // and take it), then its handle filed for cancellation. A plain unstructured task:
        // it runs on the cooperative pool (it does not inherit an executor preference), and
        // without an explicit one it pays no status-record walk on every suspension.
        Workers.perform(wake, start: { worker in Task { await self.work(worker) } },
                        file: { task, spawn in state.withLock { $0.workers.file(task, for: spawn) } })
    }

    /// Takes the buffer's head for a worker, waking the next worker while more may start;
    /// `.park` when none may start.
    private static func takeNext(_ state: inout State) -> (Step, Workers.Wake) {
        guard state.startable else { return (.park, .none) }
        let delivery = state.buffer[state.bufferHead]
        state.bufferHead += 1
        if state.bufferHead > 256, state.bufferHead * 2 > state.buffer.count {
            state.buffer.removeFirst(state.bufferHead)
            state.bufferHead = 0
        }
        state.nextRunID += 1
        state.liveHandlers += 1
        state.starting += 1
        return (.run((state.nextRunID, delivery)), state.startable ? state.workers.wake() : .none)
    }

    /// A handler worker: takes a delivery from the buffer, runs it, and goes on with the next
    /// one or parks, until it is doomed (its task was cancelled) or the workers are closed.
    private func work(_ worker: Int) async {
        var step = arrive(worker)
        while true {
            switch step {
            case .run(let job): step = await execute(job, worker: worker)
            case .park:
                let lookAgain = await Workers.parkWorker { waiter in
                    state.withLock { $0.workers.park(worker, waiter, unless: $0.startable) }
                }
                step = lookAgain ? arrive(worker) : .end
            case .end: return
            }
        }
    }

    /// A woken or new worker's first look at the buffer.
    private func arrive(_ worker: Int) -> Step {
        let (step, wake) = state.withLock { state -> (Step, Workers.Wake) in
            guard state.workers.arrived(worker) else { return (.end, .none) }
            return Self.takeNext(&state)
        }
        launch(wake)
        return step
    }

    /// Runs one delivery's handler on `worker` and settles it, and says what the worker does
    /// next: the buffer's next delivery (without parking), park, or end (doomed: its run was
    /// taken from it and its task cancelled; or closed).
    @inline(__always)
    private func execute(_ job: Job, worker: Int) async -> Step {
        let message = RabbitMQMessageCodec.message(job.delivery.incoming, queue: queue)
        let deadline = ContinuousClock.now.advanced(by: min(message.timeout, Self.longestTimeout))
        let filed = state.withLock { state -> Bool in
            state.starting -= 1
            // Not run when its connection was lost meanwhile (the broker requeued it) or the
            // stop abandoned what was left.
            guard state.epoch == job.delivery.epoch, !state.finished else { return false }
            state.runs[job.id] = Run(receipt: (job.delivery.epoch, job.delivery.tag), message: message, worker: worker,
                                     deadline: deadline)
            if state.nextExpiry.map({ deadline < $0 }) ?? true { state.nextExpiry = deadline }
            return true
        }
        var failure: (any Error)?
        if filed {
            do {
                try await handler(message)
                failure = Task.isCancelled ? CancellationError() : nil
            } catch {
                failure = error
            }
            // A doomed worker's run is gone already: this finds nothing to settle.
            if let failure { await settle(job.id, .failed(failure)) }
        }
        let (next, wake) = state.withLock { state -> (Step, Workers.Wake) in
            // A success is settled here, in the same lock as the worker is freed (what
            // `settle` does for it, without its async call and second lock).
            if filed, failure == nil, let run = state.runs.removeValue(forKey: job.id), state.epoch == run.receipt.epoch {
                state.acknowledgements.append(run.receipt)
            }
            state.liveHandlers -= 1
            state.wakeLoopIfDue()
            // A doomed worker ends here; its place is free now, so another may start.
            guard state.workers.finished(worker) else { return (.end, state.startable ? state.workers.wake() : .none) }
            return Self.takeNext(&state)
        }
        launch(wake)
        return next
    }

    /// Takes the runs `isDue` picks (under the lock) and dooms their workers: they end once
    /// their handler returns. Returns the runs and the tasks to cancel (a task not filed yet
    /// is cancelled by the filing).
    private static func takeRuns(_ state: inout State, where isDue: (Run) -> Bool) -> ([Run], [Task<Void, Never>]) {
        var runs: [Run] = []
        var tasks: [Task<Void, Never>] = []
        for (id, run) in state.runs where isDue(run) {
            runs.append(run)
            state.runs.removeValue(forKey: id)
            if let task = state.workers.doom(run.worker) { tasks.append(task) }
        }
        return (runs, tasks)
    }

    /// Ends the workers: idle ones at once, busy ones when their handler returns.
    private func closeWorkers() {
        let parked = state.withLock { $0.workers.close() }
        for worker in parked { worker.resume(returning: false) }
    }

    /// Settles every run whose timeout has passed as timed out (its handler is cancelled
    /// and the attempt retried). Called by the loop every round — at most a few
    /// milliseconds apart while handlers run — instead of a timer task per message; scans
    /// the runs only once the earliest deadline has passed.
    private func expireOverdueRuns() {
        let now = ContinuousClock.now
        let overdue = state.withLock { state -> [(UInt64, Duration)] in
            guard let expiry = state.nextExpiry, expiry <= now else { return [] }
            state.nextExpiry = state.runs.values.lazy.map(\.deadline).filter { $0 > now }.min()
            return state.runs.filter { $0.value.deadline <= now }.map { ($0.key, $0.value.message.timeout) }
        }
        for (id, timeout) in overdue {
            Task { await self.settle(id, .timedOut(timeout)) }
        }
    }

    /// Settles run `id` once (the first of completion and timeout wins).
    private func settle(_ id: UInt64, _ outcome: Outcome) async {
        let (run, cancel) = state.withLock { state -> (Run?, Task<Void, Never>?) in
            guard let run = state.runs.removeValue(forKey: id) else { return (nil, nil) }
            state.settling += 1
            guard case .timedOut = outcome else { return (run, nil) }
            // Taken from its worker, which must not run another handler.
            return (run, state.workers.doom(run.worker))
        }
        guard let run else { return }
        cancel?.cancel()
        var acknowledge = true
        switch outcome {
        case .succeeded:
            break
        case .failed(let error):
            acknowledge = await retrying(run, reason: String(describing: error))
        case .timedOut(let timeout):
            logger.warning("queue handler timed out; attempt rejected",
                           metadata: ["message": "\(run.message.id)", "attempt": "\(run.message.attempt)"])
            acknowledge = await retrying(run, reason: QueueError.timedOut(timeout).description)
        }
        state.withLock { state in
            if acknowledge, state.epoch == run.receipt.epoch { state.acknowledgements.append(run.receipt) }
            state.settling -= 1
            state.wakeLoopIfDue()
        }
        if !acknowledge { requeue(run) }
    }

    /// Re-publishes a failed attempt; `false` (not to be acknowledged: see ``requeue(_:)``)
    /// when that failed.
    private func retrying(_ run: Run, reason: String) async -> Bool {
        do {
            try await retry(run.message, reason)
            return true
        } catch {
            logger.warning("could not record a failed queue attempt; the message goes back to the queue after its backoff",
                           metadata: ["message": "\(run.message.id)", "error": "\(error)"])
            return false
        }
    }

    /// Hands a delivery whose failure could not be recorded back to the queue once the
    /// backoff its retry would have waited is over (at most ``longestRequeueDelay``; the
    /// broker redelivers it flagged as redelivered), so that a handler is not run again at
    /// once while publishing fails. Until then the delivery stays unacknowledged (its place
    /// in the prefetch window taken); if the connection ends or the consumer stops first,
    /// the broker has requeued it already and this does nothing.
    ///
    /// Such a failure does not count towards `maxAttempts`: the attempt of a redelivery is
    /// the last recorded one plus one, so while recording keeps failing the message runs
    /// again after each backoff as the same attempt, and is never dead-lettered unrecorded.
    private func requeue(_ run: Run) {
        let delay = min(run.message.backoff.delay(forRetry: run.message.attempt), Self.longestRequeueDelay)
        // Weak: a stopped consumer need not live on for the backoff (the loop keeps a
        // running one alive).
        Task { [weak self] in
            try? await Task.sleep(for: delay)
            self?.state.withLock { state in
                guard state.epoch == run.receipt.epoch, !state.finished else { return }
                state.requeues.append(run.receipt)
                state.wakeLoopIfDue()
            }
        }
    }

    /// The longest a delivery waits unacknowledged for its hand-back: far below the broker's
    /// `consumer_timeout` (30 minutes by default), past which it would close the channel.
    static let longestRequeueDelay = Duration.seconds(60)

    // MARK: Stopping

    private func performStop(drainTimeout: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: max(drainTimeout, .zero))
        // The loop sees `stopping`: it cancels the subscription and gives back the buffer.
        while ContinuousClock.now < deadline {
            let busy = state.withLock { !$0.runs.isEmpty || $0.settling > 0 || $0.buffered > 0 || $0.starting > 0 }
            if !busy { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let (abandoned, cancel, loop) = state.withLock { state in
            let (abandoned, cancel) = Self.takeRuns(&state) { _ in true }
            state.finished = true
            state.wakeLoopIfDue()
            return (abandoned, cancel, state.loop)
        }
        for task in cancel { task.cancel() }
        closeWorkers()
        if !abandoned.isEmpty {
            logger.warning("queue consumer stopped with handlers still running; their messages will be redelivered",
                           metadata: ["abandoned": "\(abandoned.count)"])
        }
        await loop?.value
        let remaining = state.withLock { state in
            defer { state.acknowledgements.removeAll() }
            return state.acknowledgements
        }
        await connection.close(acknowledge: remaining)
        onStop()
    }
}
