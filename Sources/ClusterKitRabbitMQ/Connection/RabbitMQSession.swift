import ClusterKit
import Logging

/// The consuming connection of one adapter, on its own thread.
///
/// Channel 1 carries pulled messages (`basic.get` without auto-ack) and their in-flight
/// tokens; channel 2 declarations and counts; channel 3 dead-letter listing and re-drive.
/// A pulled message stays unacknowledged on channel 1 until it is acknowledged, given back,
/// its visibility timeout passes (then it is requeued, and the next delivery counts as a
/// new attempt), or the connection ends (then the broker requeues it). When the connection
/// is lost, every held delivery is forgotten (its receipt names the old connection's epoch)
/// and the next operation connects again, no sooner than ``Backoff/reconnect`` allows.
actor RabbitMQSession {
    nonisolated let executor: DedicatedThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    struct Receipt: Hashable, Sendable, CustomStringConvertible {
        var epoch: UInt64
        var tag: UInt64
        var description: String { "\(epoch):\(tag)" }
        init(epoch: UInt64, tag: UInt64) {
            self.epoch = epoch
            self.tag = tag
        }
        init?(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let epoch = UInt64(parts[0]), let tag = UInt64(parts[1]) else { return nil }
            self.init(epoch: epoch, tag: tag)
        }
    }

    private struct Held {
        var deadline: ContinuousClock.Instant
        var settling = false
    }

    private let settings: RabbitMQConnectionSettings
    private let logger: Logger
    /// Counts reconnects (`clusterkit_connection_reconnects`).
    private let connectionObserver = ConnectionObserver(adapter: "rabbitmq")
    private var connection: AMQPConnection?
    private var epoch: UInt64 = 1
    private var held: [UInt64: Held] = [:]
    /// Recently acknowledged receipts, so a second acknowledge is harmless.
    private var acknowledged: Set<Receipt> = []
    private var acknowledgedOrder: [Receipt] = []
    private var declaredBase: Set<RabbitMQQueueTopology> = []
    private var closed = false
    private var reconnects = ReconnectSchedule()

    init(settings: RabbitMQConnectionSettings, label: String, logger: Logger) {
        self.settings = settings
        self.logger = logger
        executor = DedicatedThreadExecutor(name: "ck-amqp-con-\(label)")
    }

    /// Connects once; throws the typed error of that attempt.
    func start() throws(RabbitMQError) {
        connection = try settings.connect()
        connectionObserver.connected(logger: logger)
    }

    var heldCount: Int { held.count }

    // MARK: Pulling

    /// Takes the next ready message, held for `visibility`.
    func get(_ topology: RabbitMQQueueTopology, visibility: Duration) throws(RabbitMQError) -> (Receipt, AMQPIncoming)? {
        try run { connection throws(RabbitMQError) in
            try ensureBase(topology, on: connection)
            guard let incoming = try connection.get(1, topology.main) else { return nil }
            try connection.consumeNoWait(1, queue: topology.inflight, tag: tokenTag(incoming.deliveryTag))
            held[incoming.deliveryTag] = Held(deadline: ContinuousClock.now.advanced(by: visibility))
            return (Receipt(epoch: epoch, tag: incoming.deliveryTag), incoming)
        }
    }

    /// Marks a held delivery as being settled (its visibility no longer expires); `false`
    /// when it is not held any more.
    func beginSettling(_ receipt: Receipt) -> Bool {
        guard receipt.epoch == epoch, held[receipt.tag] != nil else { return false }
        held[receipt.tag]?.settling = true
        return true
    }

    func endSettling(_ receipt: Receipt) {
        guard receipt.epoch == epoch else { return }
        held[receipt.tag]?.settling = false
    }

    /// Acknowledges; `true` also for a receipt acknowledged before, `false` when the
    /// delivery is no longer held (requeued after its visibility timeout, or its connection
    /// was lost).
    func acknowledge(_ receipt: Receipt) throws(RabbitMQError) -> Bool {
        if acknowledged.contains(receipt) { return true }
        guard receipt.epoch == epoch, held[receipt.tag] != nil, let connection, !connection.isBroken else { return false }
        try run { connection throws(RabbitMQError) in
            try connection.ack(1, tag: receipt.tag)
            try connection.cancelNoWait(1, tag: tokenTag(receipt.tag))
        }
        held.removeValue(forKey: receipt.tag)
        acknowledged.insert(receipt)
        acknowledgedOrder.append(receipt)
        if acknowledgedOrder.count > 10_000 {
            for old in acknowledgedOrder.prefix(5_000) { acknowledged.remove(old) }
            acknowledgedOrder.removeFirst(5_000)
        }
        return true
    }

    /// Gives a held delivery back to the queue at once; `false` when it is not held.
    func requeue(_ receipt: Receipt) throws(RabbitMQError) -> Bool {
        guard receipt.epoch == epoch, held[receipt.tag] != nil else { return false }
        held.removeValue(forKey: receipt.tag)
        try run { connection throws(RabbitMQError) in
            try connection.nack(1, tag: receipt.tag, requeue: true)
            try connection.cancelNoWait(1, tag: tokenTag(receipt.tag))
        }
        return true
    }

    /// Moves a held delivery's deadline to `by` from now; `false` when it is not held.
    func extend(_ receipt: Receipt, by: Duration) throws(RabbitMQError) -> Bool {
        guard receipt.epoch == epoch, held[receipt.tag] != nil else { return false }
        if by <= .zero { return try requeue(receipt) }
        held[receipt.tag]?.deadline = ContinuousClock.now.advanced(by: by)
        return true
    }

    /// Requeues deliveries whose visibility timeout passed, and services heartbeats.
    func maintain() {
        guard !closed, let connection, !connection.isBroken else { return }
        let now = ContinuousClock.now
        let expired = held.filter { !$0.value.settling && $0.value.deadline <= now }.map(\.key).sorted()
        do {
            for tag in expired {
                held.removeValue(forKey: tag)
                try connection.nack(1, tag: tag, requeue: true)
                try connection.cancelNoWait(1, tag: tokenTag(tag))
            }
            while let frame = try connection.waitFrame(timeout: .zero) {
                try connection.handleCloseFrame(frame)
                if !connection.hasBufferedFrames { break }
            }
            connection.releaseBuffers()
        } catch {
            logger.warning("RabbitMQ consumer connection lost; held messages go back to the queue", metadata: ["error": "\(error)"])
            dropConnection()
        }
    }

    // MARK: Inspection

    func counts(_ topology: RabbitMQQueueTopology) throws(RabbitMQError) -> QueueCounts {
        try run { connection throws(RabbitMQError) in
            try ensureBase(topology, on: connection)
            let waiting = try connection.declareQueue(2, topology.main).messages
            let inFlight = try topology.inFlightCount(on: connection, channel: 2)
            let dead = try connection.declareQueue(2, topology.dead).messages
            let delayed = try topology.delayedCount(on: connection, channel: 4)
            return QueueCounts(waiting: waiting, delayed: delayed, inFlight: inFlight, dead: dead)
        }
    }

    func purge(_ topology: RabbitMQQueueTopology) throws(RabbitMQError) -> Int {
        try run { connection throws(RabbitMQError) in
            try ensureBase(topology, on: connection)
            return try connection.purge(2, topology.main)
        }
    }

    /// Takes up to `limit` dead letters on channel 3 (oldest first), unacknowledged; settle
    /// them with ``finishDeadLetters(remove:keep:epoch:)``.
    func takeDeadLetters(_ topology: RabbitMQQueueTopology, limit: Int) throws(RabbitMQError) -> (epoch: UInt64, letters: [AMQPIncoming]) {
        try run { connection throws(RabbitMQError) in
            try ensureBase(topology, on: connection)
            var letters: [AMQPIncoming] = []
            while letters.count < limit, let incoming = try connection.get(3, topology.dead) {
                letters.append(incoming)
            }
            return (epoch, letters)
        }
    }

    /// Acknowledges the dead letters `remove` (they were re-driven) and puts `keep` back in
    /// place. A lost connection already put every one of them back.
    func finishDeadLetters(remove: [UInt64], keep: [UInt64], epoch taken: UInt64) throws(RabbitMQError) {
        guard taken == epoch else { return }
        try run { connection throws(RabbitMQError) in
            for tag in remove { try connection.ack(3, tag: tag) }
            for tag in keep.sorted().reversed() { try connection.nack(3, tag: tag, requeue: true) }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        held.removeAll()
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    // MARK: Connection

    private func tokenTag(_ tag: UInt64) -> String { "ck-held-\(epoch)-\(tag)" }

    private func ensureBase(_ topology: RabbitMQQueueTopology, on connection: AMQPConnection) throws(RabbitMQError) {
        guard !declaredBase.contains(topology) else { return }
        try topology.declareBase(on: connection, channel: 2)
        declaredBase.insert(topology)
    }

    /// Runs `body` on the live connection (connecting first if needed); a failure that
    /// broke the connection drops it so that the next call reconnects.
    private func run<T>(_ body: (AMQPConnection) throws(RabbitMQError) -> T) throws(RabbitMQError) -> T {
        let connection = try connected()
        do {
            return try body(connection)
        } catch {
            // Channel 1 holds the pulled messages: if the broker closed it, they went back.
            if connection.isBroken || !connection.isChannelOpen(1) {
                dropConnection()
            }
            throw error
        }
    }

    private func connected() throws(RabbitMQError) -> AMQPConnection {
        guard !closed else { throw RabbitMQError(code: .closed, message: "the consumer connection is closed") }
        if let connection, !connection.isBroken { return connection }
        if connection != nil { dropConnection() }
        guard reconnects.allowsAttempt() else { throw reconnects.waitingError(url: settings.url) }
        do {
            let fresh = try settings.connect()
            declaredBase.removeAll()
            connection = fresh
            connectionObserver.connected(logger: logger)
            if reconnects.succeeded() { logger.info("RabbitMQ consumer connection restored", metadata: ["url": "\(settings.url)"]) }
            return fresh
        } catch {
            reconnects.failed(error)
            throw error
        }
    }

    private func dropConnection() {
        connection?.close()
        connection = nil
        held.removeAll()
        epoch += 1
    }
}
