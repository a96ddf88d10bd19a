import CRabbitMQ
import ClusterKit
import Logging
import Synchronization
import Glibc

/// The `rabbitmq` ``MessageQueue``: durable queues on a RabbitMQ broker through rabbitmq-c.
///
/// ## Guarantees
/// - **Durable**: queues are durable and messages persistent; ``publish(_:_:options:)``
///   returns only after the broker's publisher confirm (pipelined with other publishes on
///   the node's publisher connection), so a returned publish survives a broker restart.
/// - **At-least-once**: a message stays unacknowledged on the connection that took it
///   until acknowledged. A node that dies (or whose connection drops) gives its messages
///   back at once; a pulled message whose visibility timeout passes without renewal is
///   requeued by this node. Such a redelivery counts as the next attempt
///   (a message redelivered several times by the broker counts one extra attempt). A
///   publish re-sent after a reconnect also counts as the next attempt, as its first copy
///   may have been enqueued too.
/// - **Retries and delays** go through a chain of per-delay TTL queues that dead-letter
///   back into the queue (see ``RabbitMQQueueTopology``): no plugin, due order kept;
///   delays are rounded up to 4 ms.
/// - **Dead letters** (after `maxAttempts`) are re-published with their last error into
///   `APP:queue:<name>:dead`, listed with `basic.get` + requeue, re-driven by re-publishing.
/// - **Counts** come from the broker, so every node sees the same figures: waiting and dead
///   from `queue.declare`, delayed from the delay chain, in-flight from the weighted
///   consumer counts of the marker queues `APP:queue:<name>:inflight` (1 each) and
///   `…:inflight:1e1` … `…:inflight:1e4` (10 … 10 000 each): a pulled message registers
///   one unit marker, a push consumer the decimal digits of the number it holds (see
///   ``RabbitMQQueueTopology``). Markers live on the holding connection, so a node that
///   dies drops out of the count with it. A busy push consumer lowers its markers at most
///   every 50 ms (see ``RabbitMQConsumerConnection``), so the in-flight count may include
///   messages it acknowledged in the last 50 ms; it never misses one it holds.
///
/// ``receive(_:wait:visibilityTimeout:)`` pulls with `basic.get` (polled while waiting).
/// ``consume(_:options:handler:)`` starts a ``RabbitMQPushConsumer``: a `basic.consume`
/// subscription on a connection of its own, with a prefetch of the URL's `prefetch` option
/// (default 200), raised to the consumer's concurrency; see that type for its guarantees.
public final class RabbitMQMessageQueue: MessageQueue {
    public let nodeID: NodeID
    public let appName: String
    public var capabilities: QueueCapabilities { .durable }

    /// Prefetch of a consumer when the URL sets none (raised to its concurrency).
    static let defaultPrefetch = 200

    private let settings: RabbitMQConnectionSettings
    private let publisher: RabbitMQPublisher
    private let session: RabbitMQSession
    private let logger: Logger
    private let state = Mutex(State())
    /// The topology of the queue used last (publishes mostly go to one queue in a row):
    /// saves building its names per publish.
    private let lastTopology = Mutex<RabbitMQQueueTopology?>(nil)

    private struct State {
        var closing = false
        var closed = false
        var consumers: [UInt64: RabbitMQPushConsumer] = [:]
        var nextConsumerID: UInt64 = 0
        var maintenance: Task<Void, Never>?
    }

    /// Connects the publisher and consumer connections; throws ``RabbitMQError`` when the
    /// broker cannot be reached or refuses the login (within the connect timeout).
    public init(settings: RabbitMQConnectionSettings, appName: String, nodeID: NodeID,
                logger: Logger = Logger(label: "clusterkit.queue.rabbitmq")) async throws {
        self.nodeID = nodeID
        self.appName = appName
        self.logger = logger
        self.settings = settings
        let label = String(nodeID.rawValue.prefix(12))
        publisher = RabbitMQPublisher(settings: settings, label: label, logger: logger)
        session = RabbitMQSession(settings: settings, label: label, logger: logger)
        do {
            try await publisher.start()
            try await session.start()
        } catch {
            await publisher.close()
            await session.close()
            throw error
        }
        let heartbeatEvery = Duration.seconds(max(1, settings.heartbeatSeconds)) / 3
        let (publisher, session) = (publisher, session)
        let maintenance = Task {
            var sinceKeepalive = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(20))
                await session.maintain()
                if ContinuousClock.now - sinceKeepalive >= heartbeatEvery {
                    sinceKeepalive = ContinuousClock.now
                    await publisher.keepalive()
                }
            }
        }
        state.withLock { $0.maintenance = maintenance }
    }

    /// The registry's factory: URL from the context (default `AMQPURL.defaultText`).
    public convenience init(context: AdapterContext) async throws {
        let url = try (context.url ?? ConnectionURL(AMQPURL.defaultText)).amqp()
        try await self.init(settings: RabbitMQConnectionSettings(url: url), appName: context.appName, nodeID: context.nodeID, logger: context.logger)
    }

    /// The topology of `queue` after checking its name (a name found in the cache was
    /// checked when it was cached: only checked names reach ``topology(_:)``).
    private func validatedTopology(_ queue: String) throws(QueueError) -> RabbitMQQueueTopology {
        if let last = lastTopology.withLock({ $0 }), last.name == queue { return last }
        try QueueNameRules.validate(queue)
        return topology(queue)
    }

    private func topology(_ queue: String) -> RabbitMQQueueTopology {
        if let last = lastTopology.withLock({ $0 }), last.name == queue { return last }
        let topology = RabbitMQQueueTopology(appName: appName, queue: queue)
        lastTopology.withLock { $0 = topology }
        return topology
    }

    private func ensureOpen(allowClosing: Bool = false) throws(QueueError) {
        let (closing, closed) = state.withLock { ($0.closing, $0.closed) }
        if closed || (closing && !allowClosing) { throw QueueError.closed }
    }

    /// Maps backend errors to ``QueueError``: `closed` stays `closed`, the rest is `backend`
    /// with the typed error's text (which never contains the password).
    private func backend<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RabbitMQError {
            if error.code == .closed { throw QueueError.closed }
            throw QueueError(code: .backend, message: error.description)
        }
    }

    // MARK: Publishing

    @discardableResult
    public func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID {
        let topology = try validatedTopology(queue)
        try ensureOpen()
        let id = Self.randomMessageID()
        let now = RabbitMQMessageQueue.wallClockMilliseconds()
        let message = QueueMessage(id: id, queue: queue, body: body, headers: options.headers, attempt: 1, maxAttempts: options.maxAttempts,
                                   timeout: options.timeout, backoff: options.backoff, publishedAtMilliseconds: now)
        try await send(message, delay: options.delay ?? .zero, topology: topology)
        return id
    }

    /// Publishes `message` to its queue, through the delay chain when `delay` is positive.
    private func send(_ message: QueueMessage, delay: Duration, extra: [(String, AMQPFieldValue)] = [], toDead: Bool = false,
                      topology known: RabbitMQQueueTopology? = nil) async throws {
        let topology = known ?? topology(message.queue)
        let outgoing: AMQPOutgoing
        var delays = false
        if toDead {
            outgoing = RabbitMQMessageCodec.outgoing(message, exchange: "", routingKey: topology.dead, extra: extra)
        } else if let key = RabbitMQQueueTopology.delayRoutingKey(delay) {
            delays = true
            outgoing = RabbitMQMessageCodec.outgoing(message, exchange: topology.delayEntry, routingKey: key, extra: extra)
        } else {
            outgoing = RabbitMQMessageCodec.outgoing(message, exchange: "", routingKey: topology.main, extra: extra)
        }
        try await backend { try await publisher.publish(outgoing, topology: topology, delays: delays) }
    }

    // MARK: Pulling

    public func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery? {
        try QueueNameRules.validate(queue)
        let topology = topology(queue)
        let deadline = ContinuousClock.now.advanced(by: max(wait, .zero))
        var pause = Duration.milliseconds(5)
        while true {
            try ensureOpen()
            if let (receipt, incoming) = try await backend({ try await session.get(topology, visibility: visibilityTimeout) }) {
                return QueueDelivery(message: RabbitMQMessageCodec.message(incoming, queue: queue), receipt: receipt.description)
            }
            let now = ContinuousClock.now
            if now >= deadline { return nil }
            // basic.get cannot block: poll, from 5 ms up to 50 ms apart.
            try await Task.sleep(until: min(deadline, now.advanced(by: pause)), clock: .continuous)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    private func receipt(_ delivery: QueueDelivery) throws(QueueError) -> RabbitMQSession.Receipt {
        guard let receipt = RabbitMQSession.Receipt(delivery.receipt) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
        return receipt
    }

    public func extendVisibility(_ delivery: QueueDelivery, by: Duration) async throws -> Bool {
        try ensureOpen(allowClosing: true)
        let receipt = try receipt(delivery)
        return try await backend { try await session.extend(receipt, by: by) }
    }

    public func acknowledge(_ delivery: QueueDelivery) async throws {
        try ensureOpen(allowClosing: true)
        let receipt = try receipt(delivery)
        guard try await backend({ try await session.acknowledge(receipt) }) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
    }

    /// Re-publishes the message (to the delay chain for its backoff, or to the dead-letter
    /// queue after its last attempt), waits for the confirm, then acknowledges the original.
    public func reject(_ delivery: QueueDelivery, reason: String) async throws {
        try ensureOpen(allowClosing: true)
        let receipt = try receipt(delivery)
        guard await session.beginSettling(receipt) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
        do {
            try await recordFailure(delivery.message, reason: reason)
        } catch {
            await session.endSettling(receipt)
            throw error
        }
        if try await !backend({ try await session.acknowledge(receipt) }) {
            logger.warning("a rejected message's original was lost with its connection; it may be delivered once more",
                           metadata: ["message": "\(delivery.message.id)"])
        }
    }

    /// Records a failed attempt by re-publishing the message: to the delay chain for its
    /// backoff (as the next attempt), or to the dead-letter queue after its last attempt.
    /// Returns once the broker confirmed; the caller then acknowledges the original.
    func recordFailure(_ message: QueueMessage, reason: String) async throws {
        var message = message
        if message.attempt >= message.maxAttempts {
            let died = RabbitMQMessageQueue.wallClockMilliseconds()
            try await send(message, delay: .zero, extra: [(RabbitMQMessageCodec.errorKey, .string(reason)), (RabbitMQMessageCodec.diedKey, .int(died))], toDead: true)
        } else {
            let delay = message.backoff.delay(forRetry: message.attempt)
            message.attempt += 1
            try await send(message, delay: delay)
        }
    }

    // MARK: Consumers

    public func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        try QueueNameRules.validate(queue)
        try ensureOpen()
        let id = state.withLock { state -> UInt64 in
            state.nextConsumerID += 1
            return state.nextConsumerID
        }
        let prefetch = max(settings.url.prefetch ?? Self.defaultPrefetch, options.concurrency)
        let connection = RabbitMQConsumerConnection(settings: settings, topology: topology(queue), prefetch: prefetch,
                                                    label: "\(nodeID.rawValue.prefix(12))-\(id)", logger: logger)
        let consumer = RabbitMQPushConsumer(
            queue: queue, connection: connection, options: options, logger: logger,
            retry: { [weak self] message, reason in
                guard let self else { throw QueueError.closed }
                try await self.recordFailure(message, reason: reason)
            },
            giveBack: { [weak self] message in
                guard let self else { throw QueueError.closed }
                try await self.send(message, delay: .zero)
            },
            onStop: { [weak self] in self?.state.withLock { _ = $0.consumers.removeValue(forKey: id) } },
            handler: handler)
        let accepted = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            state.consumers[id] = consumer
            return true
        }
        if !accepted {
            await consumer.stop(drainTimeout: .zero)
            throw QueueError.closed
        }
        return consumer
    }

    // MARK: Inspection

    public func counts(_ queue: String) async throws -> QueueCounts {
        try QueueNameRules.validate(queue)
        try ensureOpen()
        let topology = topology(queue)
        return try await backend { try await session.counts(topology) }
    }

    public func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter] {
        try QueueNameRules.validate(queue)
        try ensureOpen()
        guard limit > 0 else { return [] }
        let topology = topology(queue)
        let (epoch, letters) = try await backend { try await session.takeDeadLetters(topology, limit: limit) }
        try await backend { try await session.finishDeadLetters(remove: [], keep: letters.map(\.deliveryTag), epoch: epoch) }
        return letters.map { deadLetter($0, queue: queue) }
    }

    @discardableResult
    public func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int {
        try QueueNameRules.validate(queue)
        try ensureOpen()
        let topology = topology(queue)
        let (epoch, letters) = try await backend { try await session.takeDeadLetters(topology, limit: 100_000) }
        let wanted = ids.map { Set($0.map(\.rawValue)) }
        var moved: [UInt64] = []
        var kept: [UInt64] = []
        do {
            for letter in letters {
                guard wanted?.contains(letter.messageID) ?? true else {
                    kept.append(letter.deliveryTag)
                    continue
                }
                var message = deadLetter(letter, queue: queue).message
                message.attempt = 1
                try await send(message, delay: .zero)
                moved.append(letter.deliveryTag)
            }
        } catch {
            // Those already re-published are removed; the rest stay dead.
            let remaining = letters.map(\.deliveryTag).filter { !moved.contains($0) }
            try? await session.finishDeadLetters(remove: moved, keep: remaining, epoch: epoch)
            throw error
        }
        try await backend { try await session.finishDeadLetters(remove: moved, keep: kept, epoch: epoch) }
        return moved.count
    }

    private func deadLetter(_ letter: AMQPIncoming, queue: String) -> QueueDeadLetter {
        var incoming = letter
        incoming.redelivered = false  // listing requeues dead letters; that is not an attempt
        return QueueDeadLetter(message: RabbitMQMessageCodec.message(incoming, queue: queue),
                               lastError: letter.headers[RabbitMQMessageCodec.errorKey]?.text ?? "",
                               diedAtMilliseconds: letter.headers[RabbitMQMessageCodec.diedKey]?.integer ?? 0)
    }

    @discardableResult
    public func purge(_ queue: String) async throws -> Int {
        try QueueNameRules.validate(queue)
        try ensureOpen()
        let topology = topology(queue)
        return try await backend { try await session.purge(topology) }
    }

    public func checkHealth() async throws {
        try ensureOpen()
        _ = try await session.counts(topology("health-check"))
    }

    // MARK: Closing

    /// Stops the consumers (draining up to `drainTimeout`; unfinished messages go back to
    /// the queue when the consumer connection closes), then closes both connections.
    public func close(drainTimeout: Duration) async {
        let consumers = state.withLock { state -> [RabbitMQPushConsumer]? in
            guard !state.closing else { return nil }
            state.closing = true
            return Array(state.consumers.values)
        }
        guard let consumers else {
            while !state.withLock({ $0.closed }) { try? await Task.sleep(for: .milliseconds(10)) }
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for consumer in consumers { group.addTask { await consumer.stop(drainTimeout: drainTimeout) } }
        }
        let maintenance = state.withLock { state -> Task<Void, Never>? in
            state.closed = true
            return state.maintenance
        }
        maintenance?.cancel()
        await session.close()
        await publisher.close()
    }

    public func close() async {
        await close(drainTimeout: .seconds(10))
    }

    /// 32 random hexadecimal digits (128 bits), from one `getrandom` system call
    /// (`SystemRandomNumberGenerator` makes one per 64 bits).
    static func randomMessageID() -> QueueMessageID {
        var words: (high: UInt64, low: UInt64) = (0, 0)
        let filled = withUnsafeMutableBytes(of: &words) { ck_random_bytes($0.baseAddress, $0.count) }
        if filled != MemoryLayout.size(ofValue: words) {
            var generator = SystemRandomNumberGenerator()
            words = (generator.next(), generator.next())
        }
        let (high, low) = words
        let text = String(unsafeUninitializedCapacity: 32) { buffer in
            for index in 0..<16 {
                buffer[index] = hexDigit(high >> (60 - 4 * UInt64(index)))
                buffer[16 + index] = hexDigit(low >> (60 - 4 * UInt64(index)))
            }
            return 32
        }
        return QueueMessageID(text)
    }

    private static func hexDigit(_ value: UInt64) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Milliseconds since 1970 (wall clock).
    static func wallClockMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
