import CRabbitMQ
import ClusterKit
import Logging

/// The publishing connection of one adapter: one channel in confirm mode, on its own thread.
///
/// ## Confirms and the window
/// Publishes from any number of tasks are sent as they come (pipelined on one channel) and
/// each waits for its own `basic.ack`; an ack with `multiple` settles every publish up to its
/// tag. A `basic.nack` fails that publish with ``RabbitMQError/Code/publishRejected``; a
/// mandatory publish that matched no queue comes back as `basic.return` and fails with
/// ``RabbitMQError/Code/unroutable``. At most `window` publishes are unconfirmed at once;
/// more wait for room.
///
/// ## Reconnects
/// A broken connection (closed by an operator, broker restart, missed heartbeats) is
/// replaced with ``Backoff/reconnect`` between attempts; the known topology is declared
/// again and every unconfirmed publish is sent again, marked as the next attempt (its first
/// copy may have reached the queue). A publish fails with ``RabbitMQError/Code/timedOut``
/// only when no confirm came within ``RabbitMQConnectionSettings/publishTimeout``.
actor RabbitMQPublisher {
    nonisolated let executor: DedicatedThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private struct Pending {
        var message: AMQPOutgoing
        var continuation: UnsafeContinuation<Void, any Error>
        var deadline: ContinuousClock.Instant
        var sequence: UInt64?
        var returned: RabbitMQError?
        var resent = false
    }

    private let settings: RabbitMQConnectionSettings
    private let logger: Logger
    /// Counts reconnects (`clusterkit_connection_reconnects`).
    private let connectionObserver = ConnectionObserver(adapter: "rabbitmq")
    private let window: Int
    private var connection: AMQPConnection?
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
    private var pumping = false
    private var closed = false
    private var failures = 0
    private var nextConnectAt: ContinuousClock.Instant?
    private var lastError: RabbitMQError?
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []

    init(settings: RabbitMQConnectionSettings, label: String, window: Int = 512, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.window = max(1, window)
        executor = DedicatedThreadExecutor(name: "ck-amqp-pub-\(label)")
    }

    /// Connects once; throws the typed error of that attempt (wrong password, …).
    func start() throws(RabbitMQError) {
        let connection = try settings.connect()
        try connection.confirmSelect(1)
        self.connection = connection
        connectionObserver.connected(logger: logger)
    }

    /// Publishes and returns once the broker confirmed it (see the type's documentation).
    func publish(_ message: AMQPOutgoing, topology: RabbitMQQueueTopology, delays: Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: settings.publishTimeout)
        try await declare(topology, delays: delays, deadline: deadline)
        while pending.count >= window && !closed {
            await withCheckedContinuation { roomWaiters.append($0) }
        }
        guard !closed else { throw RabbitMQError(code: .closed, message: "the publisher is closed") }
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            nextID += 1
            let id = nextID
            pending[id] = Pending(message: message, continuation: continuation, deadline: deadline)
            if nextExpiry.map({ deadline < $0 }) ?? true { nextExpiry = deadline }
            if let connection, !connection.isBroken { send(id, on: connection) }
            schedulePump()
        }
    }

    /// Sends heartbeats and notices a dead connection while nothing is published.
    func keepalive() async {
        guard !closed, !pumping else { return }
        guard let connection, !connection.isBroken else {
            if !declaredBase.isEmpty || connection != nil {
                _ = try? await connected(deadline: ContinuousClock.now)
            }
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

    /// Fails every waiting publish with `closed` and closes the connection. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        let failed = pending.values
        pending.removeAll()
        bySequence.removeAll()
        for entry in failed {
            entry.continuation.resume(throwing: RabbitMQError(code: .closed, message: "the publisher was closed before the broker confirmed"))
        }
        wakeRoomWaiters()
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    // MARK: Connection

    private func declare(_ topology: RabbitMQQueueTopology, delays: Bool, deadline: ContinuousClock.Instant) async throws {
        while !declaredBase.contains(topology) || (delays && !declaredDelays.contains(topology)) {
            let connection = try await connected(deadline: deadline)
            do {
                if !declaredBase.contains(topology) {
                    try topology.declareBase(on: connection, channel: 1)
                    declaredBase.insert(topology)
                }
                if delays, !declaredDelays.contains(topology) {
                    try topology.declareDelays(on: connection, channel: 1)
                    declaredDelays.insert(topology)
                }
            } catch {
                guard connection.isBroken, ContinuousClock.now < deadline else { throw error }
                dropConnection()
            }
        }
    }

    /// The live connection, connecting (with backoff, until `deadline`) when needed.
    private func connected(deadline: ContinuousClock.Instant) async throws(RabbitMQError) -> AMQPConnection {
        while true {
            guard !closed else { throw RabbitMQError(code: .closed, message: "the publisher is closed") }
            if let connection, !connection.isBroken { return connection }
            if connection != nil { dropConnection() }
            let now = ContinuousClock.now
            if let at = nextConnectAt, now < at {
                guard at < deadline else {
                    throw lastError ?? RabbitMQError(code: .timedOut, message: "no connection to \(settings.url) in time")
                }
                try? await Task.sleep(until: at, clock: .continuous)
                continue
            }
            do {
                let fresh = try settings.connect()
                try fresh.confirmSelect(1)
                for topology in declaredBase { try topology.declareBase(on: fresh, channel: 1) }
                for topology in declaredDelays { try topology.declareDelays(on: fresh, channel: 1) }
                connection = fresh
                connectionObserver.connected(logger: logger)
                if failures > 0 { logger.info("RabbitMQ publisher reconnected", metadata: ["url": "\(settings.url)"]) }
                failures = 0
                nextConnectAt = nil
                resendUnconfirmed(on: fresh)
                return fresh
            } catch {
                failures += 1
                lastError = error
                nextConnectAt = ContinuousClock.now.advanced(by: Backoff.reconnect.delay(forRetry: failures))
                if ContinuousClock.now >= deadline { throw error }
            }
        }
    }

    private func dropConnection() {
        connection?.close()
        connection = nil
        bySequence.removeAll()
        nextSequence = 1
        lowestUnsettled = 1
        for id in pending.keys { pending[id]?.sequence = nil }
        if !pending.isEmpty { schedulePump() }
    }

    private func resendUnconfirmed(on connection: AMQPConnection) {
        for id in pending.keys.sorted() where pending[id]?.sequence == nil {
            if var entry = pending[id], !entry.resent {
                // The first copy may have reached the queue: the copy counts as a new attempt.
                entry.resent = true
                entry.message.headers = entry.message.headers.map { key, value in
                    key == RabbitMQMessageCodec.attemptKey ? (key, .int((value.integer ?? 1) + 1)) : (key, value)
                }
                pending[id] = entry
            }
            send(id, on: connection)
            if connection.isBroken { return }
        }
    }

    private func send(_ id: UInt64, on connection: AMQPConnection) {
        guard let entry = pending[id] else { return }
        do {
            try connection.publish(1, entry.message)
            let sequence = nextSequence
            nextSequence += 1
            pending[id]?.sequence = sequence
            bySequence[sequence] = id
        } catch {
            logger.warning("RabbitMQ publish failed to send; will resend after reconnecting", metadata: ["error": "\(error)"])
            dropConnection()
        }
    }

    // MARK: Confirms

    private func schedulePump() {
        guard !pumping, !closed else { return }
        pumping = true
        Task { await self.pump() }
    }

    /// Reads confirms while publishes are outstanding; yields between reads so queued
    /// publishes are sent (that is what pipelines them).
    private func pump() async {
        while !pending.isEmpty && !closed {
            failExpired()
            if pending.isEmpty { break }
            guard let connection, !connection.isBroken else {
                let earliest = pending.values.map(\.deadline).min() ?? ContinuousClock.now
                _ = try? await connected(deadline: earliest)
                continue
            }
            do {
                // Wait for a confirm only while no publish is queued behind the pump: a
                // queued publish must not sit out the wait.
                let wait: Duration = executor.hasQueuedJobs ? .zero : .milliseconds(1)
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
            await Task.yield()
        }
        pumping = false
    }

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
            if let id = pending.first(where: { $0.value.message.messageID == content.messageID && $0.value.sequence != nil })?.key {
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
        wakeRoomWaiters()
    }

    private func settle(_ sequence: UInt64, nack: Bool) {
        guard let id = bySequence.removeValue(forKey: sequence), let entry = pending.removeValue(forKey: id) else { return }
        if let returned = entry.returned {
            entry.continuation.resume(throwing: returned)
        } else if nack {
            entry.continuation.resume(throwing: RabbitMQError(code: .publishRejected, message: "the broker nacked message \(entry.message.messageID)"))
        } else {
            entry.continuation.resume()
        }
    }

    private func failExpired() {
        let now = ContinuousClock.now
        guard let expiry = nextExpiry, expiry <= now else { return }
        nextExpiry = pending.values.lazy.map(\.deadline).filter { $0 > now }.min()
        for (id, entry) in pending where entry.deadline <= now {
            pending.removeValue(forKey: id)
            if let sequence = entry.sequence { bySequence.removeValue(forKey: sequence) }
            entry.continuation.resume(throwing: lastError.map {
                RabbitMQError(code: .timedOut, message: "no confirm within \(settings.publishTimeout); last error: \($0.message)")
            } ?? RabbitMQError(code: .timedOut, message: "no confirm from \(settings.url) within \(settings.publishTimeout)"))
        }
        wakeRoomWaiters()
    }

    /// Resumes as many publishes waiting for room as there are free places in the window
    /// (all of them once closed), longest-waiting first. Waking every waiter on each ack
    /// would resume hundreds only for most to find the window full again.
    private func wakeRoomWaiters() {
        guard !roomWaiters.isEmpty else { return }
        let count = closed ? roomWaiters.count : min(roomWaiters.count, window - pending.count)
        guard count > 0 else { return }
        let waiters = roomWaiters.prefix(count)
        roomWaiters.removeFirst(count)
        for waiter in waiters { waiter.resume() }
    }
}
