import Logging
import Synchronization

/// The consumer engine every adapter can share: it runs a handler for each message of one
/// queue using only the pull operations of ``MessageQueue`` (`receive`, `acknowledge`,
/// `reject`, `extendVisibility`).
///
/// ## What it guarantees
/// - **Bounded concurrency**: at most ``QueueConsumerOptions/concurrency`` handlers run at
///   once. A slot is taken before a message is pulled and freed only when the handler's
///   task has really returned, so the bound holds even for handlers that ignore
///   cancellation (such a handler keeps its slot until it returns).
/// - **Gate and pause**: before every pull the consumer asks ``QueueConsumerOptions/gate``
///   and its paused flag. A closed gate or a paused consumer takes nothing: it looks again
///   every ``QueueConsumerOptions/gateInterval`` (gate) or when resumed (pause). ``pause()``
///   also cancels a pull that is waiting; a closed gate is noticed at the next pull, and
///   with a gate set a pull never waits longer than `gateInterval`, so closing the gate
///   takes effect within `gateInterval`.
/// - **Enforced timeout**: each handler runs in its own task. When the message's
///   ``QueueMessage/timeout`` passes, that task is cancelled and the attempt is rejected
///   at once with a ``QueueError/Code/timedOut`` reason, whether or not the handler stops:
///   Swift cannot kill a task, so a handler that ignores cancellation goes on running, but
///   its late completion acknowledges nothing.
/// - **Claims stay alive**: while a handler runs, the consumer renews the message's claim
///   every third of ``QueueConsumerOptions/visibilityTimeout``, so no other consumer takes
///   it however long the handler legitimately runs (up to its timeout).
/// - **No busy loop**: an idle consumer sits in a blocking `receive` (woken by a publish
///   on adapters that can be notified); failed pulls are retried with
///   ``Backoff/reconnect``.
/// - **Graceful stop**: ``stop(drainTimeout:)`` stops pulling, lets running handlers finish
///   until the deadline (acknowledging or rejecting them as usual), then cancels the rest and
///   leaves their messages unacknowledged: they are redelivered after the visibility timeout.
///
/// The consumer starts pulling as soon as it is created and runs until it is stopped or
/// the adapter reports ``QueueError/closed``.
public final class PullConsumer<C: Clock>: QueueConsumer where C.Duration == Duration {
    public let queue: String
    /// The options it was started with.
    public let options: QueueConsumerOptions

    private let source: any MessageQueue
    private let handler: QueueHandler
    private let clock: C
    private let idlePullWait: Duration
    private let logger: Logger
    private let onStop: @Sendable () -> Void
    private let state = Mutex(State())
    /// Notified when a slot frees, a run settles, or pause/resume/stop is asked.
    private let changes = QueueWakeSignal()

    /// A message whose handler has not been settled yet (acknowledged, rejected or
    /// abandoned).
    private struct Run {
        let delivery: QueueDelivery
        var handler: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }

    private struct State {
        var paused = false
        var stopping = false
        /// Unsettled runs: their claims are renewed, and a drain waits for them.
        var runs: [UInt64: Run] = [:]
        var nextRunID: UInt64 = 0
        /// Handler tasks that have not returned yet (settled or not): the concurrency slots.
        var liveHandlers = 0
        /// Acknowledge/reject calls in progress.
        var settling = 0
        var pull: Task<QueueDelivery?, any Error>?
        var loop: Task<Void, Never>?
        var renewer: Task<Void, Never>?
        var stopTask: Task<Void, Never>?
    }

    private enum Outcome {
        case succeeded
        case failed(any Error)
        case timedOut(Duration)
    }

    /// Starts consuming `queue` from `source`.
    ///
    /// - Parameters:
    ///   - clock: measures handler timeouts, claim renewals, the gate interval and the drain.
    ///   - idlePullWait: how long one blocking `receive` waits when no gate is set; an idle
    ///     consumer pulls again after that long.
    ///   - onStop: called once when the consumer has stopped (adapters use it to forget it).
    public init(
        queue: String,
        source: any MessageQueue,
        options: QueueConsumerOptions,
        clock: C,
        idlePullWait: Duration = .seconds(5),
        logger: Logger = Logger(label: "clusterkit.queue.consumer"),
        onStop: @escaping @Sendable () -> Void = {},
        handler: @escaping QueueHandler
    ) {
        self.queue = queue
        self.options = options
        self.source = source
        self.clock = clock
        self.idlePullWait = max(idlePullWait, .milliseconds(1))
        self.handler = handler
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue)"
        self.logger = logger
        self.onStop = onStop
        let loop = Task { await self.pullLoop() }
        let renewer = Task { await self.renewClaims() }
        state.withLock {
            $0.loop = loop
            $0.renewer = renewer
        }
    }

    public var inFlight: Int {
        get async { state.withLock { $0.liveHandlers } }
    }

    public func pause() async {
        let pull = state.withLock { state in
            state.paused = true
            return state.pull
        }
        pull?.cancel()
        changes.notifyAll()
    }

    public func resume() async {
        state.withLock { $0.paused = false }
        changes.notifyAll()
    }

    /// Stops the consumer (see the type's documentation). A second call, concurrent or
    /// later, waits for the first stop to finish; its `drainTimeout` is ignored.
    ///
    /// Handlers still running at the deadline are cancelled but not awaited: one that ignores
    /// cancellation may still be running when this returns, and its result is discarded.
    /// Called from inside one of this consumer's handlers, it waits for the drain deadline
    /// (that handler is among those drained) and its message is left for redelivery.
    public func stop(drainTimeout: Duration) async {
        let task = state.withLock { state -> Task<Void, Never> in
            if let existing = state.stopTask { return existing }
            state.stopping = true
            let task = Task { await self.performStop(drainTimeout: drainTimeout) }
            state.stopTask = task
            return task
        }
        await task.value
    }

    // MARK: Pulling

    private func pullLoop() async {
        var failures = 0
        while true {
            let observed = changes.generation
            let (stopping, paused, full) = state.withLock {
                ($0.stopping, $0.paused, $0.liveHandlers >= options.concurrency)
            }
            if stopping || Task.isCancelled { return }
            if paused || full {
                await changes.wait(after: observed)
                continue
            }
            if let gate = options.gate, !gate() {
                await changes.wait(after: observed, orUntil: sleeper(for: options.gateInterval))
                continue
            }
            do {
                if let delivery = try await pull() { start(delivery) }
                failures = 0
            } catch is PullInterrupted {
                // pause() or stop() cancelled the pull: not a failure, whatever the flags say
                // by now (a quick resume() after a pause() must not cost a backoff).
                continue
            } catch let error as QueueError where error.code == .closed {
                logger.debug("queue adapter closed; consumer stops pulling")
                return
            } catch {
                let (stopping, paused) = state.withLock { ($0.stopping, $0.paused) }
                if stopping || Task.isCancelled { return }
                if paused { continue }
                failures += 1
                let delay = Backoff.reconnect.delay(forRetry: failures)
                logger.warning("queue pull failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                await changes.wait(after: changes.generation, orUntil: sleeper(for: delay))
            }
        }
    }

    /// One `receive`, in a task that pause and stop can cancel. `nil` when nothing came or
    /// pulling is not allowed any more.
    private func pull() async throws -> QueueDelivery? {
        let wait = options.gate == nil ? idlePullWait : options.gateInterval
        let task = state.withLock { state -> Task<QueueDelivery?, any Error>? in
            guard !state.stopping, !state.paused else { return nil }
            let task = Task {
                try await self.source.receive(self.queue, wait: wait, visibilityTimeout: self.options.visibilityTimeout)
            }
            state.pull = task
            return task
        }
        guard let task else { return nil }
        defer { state.withLock { $0.pull = nil } }
        // A delivery that arrives despite a cancellation is still run: it is in flight.
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch where task.isCancelled {
            throw PullInterrupted()
        }
    }

    /// A pull that failed because pause or stop cancelled it.
    private struct PullInterrupted: Error {}

    // MARK: Running handlers

    private func start(_ delivery: QueueDelivery) {
        let message = delivery.message
        // Far-future timeouts are capped so that the deadline cannot overflow the clock.
        let timeout = min(message.timeout, .seconds(365 * 86_400))
        state.withLock { state in
            state.nextRunID += 1
            let id = state.nextRunID
            state.liveHandlers += 1
            // Both tasks settle through `settle`, which takes this lock: they are created
            // here so that a run is never visible without its handles.
            let handler = Task {
                let outcome: Outcome
                do {
                    try await self.handler(message)
                    outcome = .succeeded
                } catch {
                    outcome = .failed(error)
                }
                await self.settle(id, outcome)
                self.handlerReturned()
            }
            let timer = Task {
                do {
                    try await self.clock.sleep(until: self.clock.now.advanced(by: timeout), tolerance: nil)
                } catch {
                    return
                }
                await self.settle(id, .timedOut(message.timeout))
            }
            state.runs[id] = Run(delivery: delivery, handler: handler, timer: timer)
        }
    }

    /// Settles run `id` once: the first of handler completion and timeout wins; later
    /// calls (a handler finishing after its timeout, or after being abandoned) do nothing.
    private func settle(_ id: UInt64, _ outcome: Outcome) async {
        let run = state.withLock { state -> Run? in
            guard let run = state.runs.removeValue(forKey: id) else { return nil }
            state.settling += 1
            return run
        }
        guard let run else { return }
        let delivery = run.delivery
        do {
            switch outcome {
            case .succeeded:
                run.timer?.cancel()
                try await source.acknowledge(delivery)
            case .failed(let error):
                run.timer?.cancel()
                try await source.reject(delivery, reason: String(describing: error))
            case .timedOut(let timeout):
                run.handler?.cancel()
                logger.warning("queue handler timed out; attempt rejected",
                               metadata: ["message": "\(delivery.message.id)", "attempt": "\(delivery.message.attempt)"])
                try await source.reject(delivery, reason: QueueError.timedOut(timeout).description)
            }
        } catch {
            logger.warning("could not settle a queue message; it will be redelivered",
                           metadata: ["message": "\(delivery.message.id)", "error": "\(error)"])
        }
        state.withLock { $0.settling -= 1 }
        changes.notifyAll()
    }

    private func handlerReturned() {
        state.withLock { $0.liveHandlers -= 1 }
        changes.notifyAll()
    }

    /// Renews the claims of unsettled runs every third of the visibility timeout.
    private func renewClaims() async {
        let interval = max(options.visibilityTimeout / 3, .milliseconds(1))
        while true {
            do {
                try await clock.sleep(until: clock.now.advanced(by: interval), tolerance: nil)
            } catch {
                return
            }
            let held = state.withLock { $0.runs.map { (id: $0.key, delivery: $0.value.delivery) } }
            for (id, delivery) in held {
                do {
                    let kept = try await source.extendVisibility(delivery, by: options.visibilityTimeout)
                    // A run settled meanwhile has nothing left to keep.
                    if !kept, state.withLock({ $0.runs[id] != nil }) {
                        logger.warning("lost the claim on a running queue message; another consumer may process it",
                                       metadata: ["message": "\(delivery.message.id)"])
                    }
                } catch let error as QueueError where error.code == .closed {
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("could not renew a queue message claim",
                                   metadata: ["message": "\(delivery.message.id)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: Stopping

    private func performStop(drainTimeout: Duration) async {
        let deadline = clock.now.advanced(by: max(drainTimeout, .zero))
        let (pull, loop) = state.withLock { ($0.pull, $0.loop) }
        pull?.cancel()
        loop?.cancel()
        changes.notifyAll()
        await loop?.value

        while true {
            let observed = changes.generation
            let busy = state.withLock { !$0.runs.isEmpty || $0.settling > 0 }
            if !busy || clock.now >= deadline { break }
            await changes.wait(after: observed, orUntil: { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) })
        }

        // Past the deadline: abandon what is left. Unsettled messages stay in flight and are
        // redelivered after their visibility timeout.
        let (abandoned, renewer) = state.withLock { state in
            defer { state.runs.removeAll() }
            return (Array(state.runs.values), state.renewer)
        }
        for run in abandoned {
            run.handler?.cancel()
            run.timer?.cancel()
        }
        if !abandoned.isEmpty {
            logger.warning("queue consumer stopped with handlers still running; their messages will be redelivered",
                           metadata: ["abandoned": "\(abandoned.count)"])
        }
        renewer?.cancel()
        onStop()
    }

    private func sleeper(for duration: Duration) -> @Sendable () async -> Void {
        let deadline = clock.now.advanced(by: duration)
        return { [clock] in try? await clock.sleep(until: deadline, tolerance: nil) }
    }
}
