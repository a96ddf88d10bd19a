import CRabbitMQ
import ClusterKit
import Logging
import Synchronization

/// The publishing connection of one adapter: one channel in confirm mode, on its own thread.
///
/// ## Confirms and the window
/// Publishes from any number of tasks are sent as they come (pipelined on one channel) and
/// each waits for its own `basic.ack`; an ack with `multiple` settles every publish up to its
/// tag. A `basic.nack` fails that publish with ``RabbitMQError/Code/publishRejected``; a
/// mandatory publish that matched no queue comes back as `basic.return` and fails with
/// ``RabbitMQError/Code/unroutable``. At most `window` publishes are unconfirmed at once;
/// more wait for room, in the order they came.
///
/// ## Reconnects
/// A broken connection (closed by an operator, broker restart, missed heartbeats) is
/// replaced with ``Backoff/reconnect`` between attempts; the known topology is declared
/// again and every unconfirmed publish is sent again, marked as the next attempt (its first
/// copy may have reached the queue). A publish fails with ``RabbitMQError/Code/timedOut``
/// only when no confirm came within ``RabbitMQConnectionSettings/publishTimeout``.
///
/// ## Threads
/// Every call into rabbitmq-c is made by the *pump*: a task that prefers the publisher's
/// ``DedicatedThreadExecutor``, so it runs on that thread only, never on the cooperative
/// pool. Callers never enter that thread: ``publish(_:topology:delays:)`` appends its
/// message to the inbox (a `Mutex`) and suspends; the pump takes the inbox's whole content
/// at once, sends it, reads confirms, and resumes each caller straight onto the pool. So a
/// publish costs no hop onto the connection's thread and back, and a burst of publishes is
/// handed over in one batch: that is what keeps the thread switches per message low. At
/// most one pump runs at a time (``Inbox/pumping``); it ends when nothing is queued or
/// unconfirmed, and the next call starts another.
final class RabbitMQPublisher: @unchecked Sendable {
    // @unchecked Sendable is safe: the `let`s are Sendable, `inbox` is a Mutex, and every
    // other stored `var` (the "pump state" below) is read and written only by the pump,
    // which runs on `executor`'s one thread, one pump at a time: a pump is started only by
    // whoever flipped `inbox.pumping` from false to true, and clears it, under the lock, as
    // its last step.
    let executor: DedicatedThreadExecutor

    /// A publish waiting for room in the window, a connection or its topology.
    private struct Request {
        var message: AMQPOutgoing
        var topology: RabbitMQQueueTopology
        var delays: Bool
        /// Resumed exactly once, by the pump, after the request left every collection.
        var continuation: UnsafeContinuation<Void, any Error>
        var deadline: ContinuousClock.Instant
    }

    /// A sent publish waiting for its confirm.
    private struct Pending {
        var request: Request
        var sequence: UInt64?
        var returned: RabbitMQError?
        var resent = false
    }

    private enum Job {
        case start(UnsafeContinuation<Void, any Error>)
        case keepalive
        case close
    }

    /// What other threads hand to the pump.
    private struct Inbox {
        var requests: [Request] = []
        var jobs: [Job] = []
        var closed = false
        /// Callers of ``close()`` waiting for the close to finish (the first one and any
        /// that came while it ran).
        var closeWaiters: [UnsafeContinuation<Void, Never>] = []
        /// The close finished: the connection is closed and every publish failed.
        var closeFinished = false
        /// A pump runs (or is about to): whoever sets this starts one.
        var pumping = false

        /// Claims the right to start a pump; `true` when the caller must start one.
        mutating func claimPump() -> Bool {
            guard !pumping else { return false }
            pumping = true
            return true
        }
    }

    private let settings: RabbitMQConnectionSettings
    private let logger: Logger
    /// Counts reconnects (`clusterkit_connection_reconnects`).
    private let connectionObserver = ConnectionObserver(adapter: "rabbitmq")
    private let window: Int
    private let inbox = Mutex(Inbox())

    // MARK: Pump state (the pump's thread only)

    private var connection: AMQPConnection?
    /// Taken from the inbox, not sent yet (oldest first from `waitingHead`).
    private var waiting: [Request] = []
    private var waitingHead = 0
    private var pending: [UInt64: Pending] = [:]
    private var bySequence: [UInt64: UInt64] = [:]
    private var nextSequence: UInt64 = 1
    /// Every sequence number below this one is settled (or was never sent on this
    /// connection): a `multiple` ack only walks the sequences from here up to its tag, so
    /// settling costs O(1) per message instead of a scan of every unconfirmed one.
    private var lowestUnsettled: UInt64 = 1
    /// No pending publish expires before this instant (a lower bound: ``failExpired()``
    /// scans the pending publishes only once it has passed, then recomputes it).
    private var nextExpiry: ContinuousClock.Instant?
    private var nextID: UInt64 = 0
    private var declaredBase: Set<RabbitMQQueueTopology> = []
    private var declaredDelays: Set<RabbitMQQueueTopology> = []
    /// Whether the topology of the last sent publish was declared with its delay chain
    /// (saves hashing the topology per publish when it did not change).
    private var lastDeclared: (topology: RabbitMQQueueTopology, delays: Bool)?
    private var closed = false
    private var reconnects = ReconnectSchedule()

    init(settings: RabbitMQConnectionSettings, label: String, window: Int = 512, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.window = max(1, window)
        executor = DedicatedThreadExecutor(name: "ck-amqp-pub-\(label)")
    }

    // MARK: Calls from any thread

    /// Connects once; throws the typed ``RabbitMQError`` of that attempt (wrong password, …).
    func start() async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            submit(.start(continuation)) { continuation.resume(throwing: Self.closedError) }
        }
    }

    /// Publishes and returns once the broker confirmed it (see the type's documentation).
    func publish(_ message: AMQPOutgoing, topology: RabbitMQQueueTopology, delays: Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: settings.publishTimeout)
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            let request = Request(message: message, topology: topology, delays: delays, continuation: continuation, deadline: deadline)
            let start = inbox.withLock { inbox -> Bool? in
                guard !inbox.closed else { return nil }
                inbox.requests.append(request)
                return inbox.claimPump()
            }
            switch start {
            case nil: continuation.resume(throwing: Self.closedError)
            case true?: startPump()
            case false?: break
            }
        }
    }

    /// Sends heartbeats and notices a dead connection while nothing is published (a running
    /// pump does that already). Returns at once.
    func keepalive() async {
        let start = inbox.withLock { inbox -> Bool in
            guard !inbox.closed, !inbox.pumping else { return false }
            inbox.jobs.append(.keepalive)
            return inbox.claimPump()
        }
        if start { startPump() }
    }

    /// Fails every waiting publish with `closed` and closes the connection. Idempotent;
    /// every caller returns once the close is done (a second caller waits for the close the
    /// first one started: as long as the pump takes to reach it, at most one connect
    /// attempt, which `connectTimeout` bounds).
    func close() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let start = inbox.withLock { inbox -> Bool? in
                if inbox.closeFinished { return nil }
                inbox.closeWaiters.append(continuation)
                guard !inbox.closed else { return false }
                inbox.closed = true
                inbox.jobs.append(.close)
                return inbox.claimPump()
            }
            switch start {
            case nil: continuation.resume()
            case true?: startPump()
            case false?: break
            }
        }
    }

    /// Whether a close has finished: every publish failed or settled, the connection closed.
    var isClosed: Bool { inbox.withLock { $0.closeFinished } }

    private static var closedError: RabbitMQError { RabbitMQError(code: .closed, message: "the publisher is closed") }

    private func submit(_ job: Job, ifClosed: () -> Void) {
        let start = inbox.withLock { inbox -> Bool? in
            guard !inbox.closed else { return nil }
            inbox.jobs.append(job)
            return inbox.claimPump()
        }
        switch start {
        case nil: ifClosed()
        case true?: startPump()
        case false?: break
        }
    }

    private func startPump() {
        Task(executorPreference: executor) { await self.pump() }
    }

    // MARK: The pump

    /// Takes the inbox, sends what the window allows, reads confirms; ends once nothing is
    /// queued or unconfirmed (or the publisher closed).
    private func pump() async {
        while true {
            var (requests, jobs) = ([Request](), [Job]())
            inbox.withLock { inbox in
                swap(&requests, &inbox.requests)
                swap(&jobs, &inbox.jobs)
            }
            if !requests.isEmpty { waiting += requests }
            for job in jobs { run(job) }
            if closed {
                // Ends the pump for good: `inbox.closed` rejects everything from now on.
                inbox.withLock { $0.pumping = false }
                return
            }
            failExpired()
            admit()
            if pending.isEmpty && waitingHead == waiting.count {
                let idle = inbox.withLock { inbox -> Bool in
                    guard inbox.requests.isEmpty, inbox.jobs.isEmpty else { return false }
                    inbox.pumping = false
                    return true
                }
                if idle { return }
                continue
            }
            guard let connection, !connection.isBroken else {
                await reconnect()
                continue
            }
            do {
                // Wait for a confirm only while nothing that could be sent is queued: a
                // queued publish must not sit out the wait.
                let (queued, hasJobs) = inbox.withLock { (!$0.requests.isEmpty, !$0.jobs.isEmpty) }
                let canSend = pending.count < window && (waitingHead < waiting.count || queued)
                let wait: Duration = canSend || hasJobs ? .zero : .milliseconds(1)
                if let frame = try connection.waitFrame(timeout: wait) {
                    try handle(frame, on: connection)
                    while connection.hasBufferedFrames, let more = try connection.waitFrame(timeout: .zero) {
                        try handle(more, on: connection)
                    }
                }
                connection.releaseBuffers()
            } catch {
                logger.warning("RabbitMQ publisher connection lost; reconnecting and resending unconfirmed messages",
                               metadata: ["error": "\(error)", "unconfirmed": "\(pending.count)"])
                dropConnection()
            }
        }
    }

    private func run(_ job: Job) {
        switch job {
        case .start(let continuation):
            do {
                let connection = try settings.connect()
                try connection.confirmSelect(1)
                self.connection = connection
                connectionObserver.connected(logger: logger)
                continuation.resume()
            } catch {
                continuation.resume(throwing: error)
            }
        case .keepalive:
            serviceIdleConnection()
        case .close:
            closeNow()
        }
    }

    /// Sends what the window has room for, oldest first, declaring topologies on the way.
    private func admit() {
        while pending.count < window, waitingHead < waiting.count {
            guard let connection, !connection.isBroken else { return }
            let request = waiting[waitingHead]
            if !isDeclared(request.topology, delays: request.delays) {
                do {
                    if !declaredBase.contains(request.topology) {
                        try request.topology.declareBase(on: connection, channel: 1)
                        declaredBase.insert(request.topology)
                    }
                    if request.delays, !declaredDelays.contains(request.topology) {
                        try request.topology.declareDelays(on: connection, channel: 1)
                        declaredDelays.insert(request.topology)
                    }
                } catch {
                    if connection.isBroken {
                        // Declared again, then sent, once reconnected.
                        reconnects.lastError = error
                        dropConnection()
                        return
                    }
                    takeWaiting()
                    request.continuation.resume(throwing: error)
                    continue
                }
            }
            lastDeclared = (request.topology, request.delays)
            takeWaiting()
            nextID += 1
            let id = nextID
            pending[id] = Pending(request: request)
            if nextExpiry.map({ request.deadline < $0 }) ?? true { nextExpiry = request.deadline }
            send(id, on: connection)
        }
    }

    private func isDeclared(_ topology: RabbitMQQueueTopology, delays: Bool) -> Bool {
        if let last = lastDeclared, last.topology == topology, last.delays || !delays { return true }
        return declaredBase.contains(topology) && (!delays || declaredDelays.contains(topology))
    }

    /// Removes the oldest waiting request (compacting the array now and then).
    private func takeWaiting() {
        waitingHead += 1
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead > 1_024, waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }

    /// Heartbeats and broker frames while nothing is published; reconnects (when the
    /// backoff allows) a connection that was in use.
    private func serviceIdleConnection() {
        guard let connection, !connection.isBroken else {
            let wasConnected = connection != nil
            if wasConnected { dropConnection() }
            if !declaredBase.isEmpty || wasConnected, reconnects.allowsAttempt() { _ = connectOnce() }
            return
        }
        do {
            while let frame = try connection.waitFrame(timeout: .zero) {
                try handle(frame, on: connection)
                if !connection.hasBufferedFrames { break }
            }
            connection.releaseBuffers()
        } catch {
            logger.warning("RabbitMQ publisher connection lost; reconnecting", metadata: ["error": "\(error)"])
            dropConnection()
        }
    }

    private func closeNow() {
        closed = true
        let error = RabbitMQError(code: .closed, message: "the publisher was closed before the broker confirmed")
        var (requests, jobs) = ([Request](), [Job]())
        inbox.withLock { inbox in
            swap(&requests, &inbox.requests)
            swap(&jobs, &inbox.jobs)
        }
        for request in waiting[waitingHead...] { request.continuation.resume(throwing: error) }
        for request in requests { request.continuation.resume(throwing: error) }
        waiting.removeAll()
        waitingHead = 0
        let failed = pending.values
        pending.removeAll()
        bySequence.removeAll()
        for entry in failed { entry.request.continuation.resume(throwing: error) }
        for job in jobs {
            switch job {
            case .start(let continuation): continuation.resume(throwing: Self.closedError)
            case .close, .keepalive: break
            }
        }
        connection?.close()
        connection = nil
        executor.shutdown()
        let waiters = inbox.withLock { inbox in
            inbox.closeFinished = true
            defer { inbox.closeWaiters = [] }
            return inbox.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Connection

    /// Waits for the next allowed connect attempt (at most 20 ms at a time, so the inbox
    /// and expiries are looked at meanwhile) or makes it.
    private func reconnect() async {
        if connection != nil { dropConnection() }
        if let at = reconnects.nextAttemptAt, ContinuousClock.now < at {
            try? await Task.sleep(until: min(at, ContinuousClock.now.advanced(by: .milliseconds(20))), clock: .continuous)
            return
        }
        _ = connectOnce()
    }

    /// One connect attempt: on success the topology is declared again and every
    /// unconfirmed publish sent again.
    private func connectOnce() -> Bool {
        do {
            let fresh = try settings.connect()
            try fresh.confirmSelect(1)
            for topology in declaredBase { try topology.declareBase(on: fresh, channel: 1) }
            for topology in declaredDelays { try topology.declareDelays(on: fresh, channel: 1) }
            connection = fresh
            connectionObserver.connected(logger: logger)
            if reconnects.succeeded() { logger.info("RabbitMQ publisher reconnected", metadata: ["url": "\(settings.url)"]) }
            resendUnconfirmed(on: fresh)
            return true
        } catch {
            reconnects.failed(error)
            return false
        }
    }

    private func dropConnection() {
        connection?.close()
        connection = nil
        bySequence.removeAll()
        nextSequence = 1
        lowestUnsettled = 1
        for id in pending.keys { pending[id]?.sequence = nil }
    }

    private func resendUnconfirmed(on connection: AMQPConnection) {
        for id in pending.keys.sorted() where pending[id]?.sequence == nil {
            if var entry = pending[id], !entry.resent {
                // The first copy may have reached the queue: the copy counts as a new attempt.
                entry.resent = true
                entry.request.message.headers = RabbitMQMessageCodec.nextAttempt(entry.request.message.headers)
                pending[id] = entry
            }
            send(id, on: connection)
            if connection.isBroken { return }
        }
    }

    private func send(_ id: UInt64, on connection: AMQPConnection) {
        guard let entry = pending[id] else { return }
        do {
            try connection.publish(1, entry.request.message)
            let sequence = nextSequence
            nextSequence += 1
            pending[id]?.sequence = sequence
            bySequence[sequence] = id
        } catch {
            logger.warning("RabbitMQ publish failed to send; will resend after reconnecting", metadata: ["error": "\(error)"])
            reconnects.lastError = error
            dropConnection()
        }
    }

    // MARK: Confirms

    private func handle(_ frame: amqp_frame_t, on connection: AMQPConnection) throws(RabbitMQError) {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return }
        let method = frame.payload.method
        switch method.id {
        case CK_BASIC_ACK:
            guard let decoded = method.decoded else { return }
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            settle(upTo: ack.delivery_tag, multiple: ack.multiple != 0, nack: false)
        case CK_BASIC_NACK:
            guard let decoded = method.decoded else { return }
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            settle(upTo: nack.delivery_tag, multiple: nack.multiple != 0, nack: true)
        case CK_BASIC_RETURN:
            guard let decoded = method.decoded else { return }
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let error = RabbitMQError(code: .unroutable, message: "the broker returned a message published to '\(returned.routing_key.string)': \(returned.reply_text.string)",
                                      replyCode: Int(returned.reply_code))
            let content = try connection.readContent(frame.channel)
            // The return precedes the message's ack; remember it for that ack.
            if let id = pending.first(where: { $0.value.request.message.messageID == content.messageID && $0.value.sequence != nil })?.key {
                pending[id]?.returned = error
            }
        default:
            try connection.handleCloseFrame(frame)
        }
    }

    private func settle(upTo tag: UInt64, multiple: Bool, nack: Bool) {
        if multiple {
            // Tags below `lowestUnsettled` are settled already; each tag is walked once.
            var sequence = lowestUnsettled
            while sequence <= tag {
                settle(sequence, nack: nack)
                sequence += 1
            }
            lowestUnsettled = max(lowestUnsettled, sequence)
        } else {
            settle(tag, nack: nack)
            if tag == lowestUnsettled { lowestUnsettled += 1 }
        }
    }

    private func settle(_ sequence: UInt64, nack: Bool) {
        guard let id = bySequence.removeValue(forKey: sequence), let entry = pending.removeValue(forKey: id) else { return }
        if let returned = entry.returned {
            entry.request.continuation.resume(throwing: returned)
        } else if nack {
            entry.request.continuation.resume(throwing: RabbitMQError(code: .publishRejected, message: "the broker nacked message \(entry.request.message.messageID)"))
        } else {
            entry.request.continuation.resume()
        }
    }

    /// Fails the publishes (sent or waiting) whose deadline has passed with `timedOut`.
    private func failExpired() {
        let now = ContinuousClock.now
        // Waiting requests came in deadline order (one publish timeout for all).
        while waitingHead < waiting.count, waiting[waitingHead].deadline <= now {
            let request = waiting[waitingHead]
            takeWaiting()
            request.continuation.resume(throwing: timedOut())
        }
        guard let expiry = nextExpiry, expiry <= now else { return }
        nextExpiry = pending.values.lazy.map(\.request.deadline).filter { $0 > now }.min()
        for (id, entry) in pending where entry.request.deadline <= now {
            pending.removeValue(forKey: id)
            if let sequence = entry.sequence { bySequence.removeValue(forKey: sequence) }
            entry.request.continuation.resume(throwing: timedOut())
        }
    }

    private func timedOut() -> RabbitMQError {
        reconnects.lastError.map {
            RabbitMQError(code: .timedOut, message: "no confirm within \(settings.publishTimeout); last error: \($0.message)")
        } ?? RabbitMQError(code: .timedOut, message: "no confirm from \(settings.url) within \(settings.publishTimeout)")
    }
}
