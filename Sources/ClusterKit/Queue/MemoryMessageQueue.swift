import Logging
import Synchronization

/// The in-process message queue: one node's view of queues kept in a ``MemoryBackend``.
///
/// Every node created on the same backend with the same app name shares the queues (a
/// message published on one node is consumed once, by any node); other app names are
/// separate. It keeps the common ``MessageQueue`` semantics:
/// - waiting messages come out first in, first out; delayed ones (and retries waiting for
///   their backoff) become waiting when due, in due order;
/// - a received message is in flight, owned by this node until acknowledged, rejected or
///   its visibility deadline passes; then it is waiting again (at the head, attempt + 1) for
///   any consumer, or dead-lettered when it already had `maxAttempts` deliveries;
/// - a late acknowledgement still removes the message while nobody has received it again;
///   after that it fails with ``QueueError/Code/unknownDelivery`` and changes nothing.
///
/// Closing a node stops its consumers (see ``close(drainTimeout:)``); the queues and the
/// other nodes go on. A node closed while a handler runs and `drainTimeout` is zero behaves
/// like a crashed process: its message stays in flight until the visibility timeout, then
/// goes to another node.
///
/// Nothing survives the process: ``capabilities`` is empty.
public final class MemoryMessageQueue<C: Clock>: MessageQueue where C.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// The largest body ``publish(_:_:options:)`` accepts, in bytes.
        public var maximumBodySize: Int
        /// How long an idle consumer's pull waits before it pulls again. A publish wakes it
        /// at once, so this only bounds how long a pull lasts.
        public var consumerPullWait: Duration

        public init(maximumBodySize: Int = 16 * 1024 * 1024, consumerPullWait: Duration = .seconds(5)) {
            self.maximumBodySize = max(0, maximumBodySize)
            self.consumerPullWait = consumerPullWait
        }
    }

    public let nodeID: NodeID
    /// The app namespace of the queues.
    public let appName: String
    public let configuration: Configuration
    public var capabilities: QueueCapabilities { [] }

    private let broker: MemoryQueueBroker
    private let clock: C
    private let logger: Logger
    private let state = Mutex(NodeState())
    /// The consumers this node started; stopped on close.
    private let consumers = QueueConsumerRegistry()

    private struct NodeState {
        /// Every operation fails with ``QueueError/closed``.
        var closed = false
        var closeTask: Task<Void, Never>?
    }

    /// A node of the queues of `appName` on `backend`.
    ///
    /// - Parameter clock: times this node's consumers (handler timeouts, claim renewal,
    ///   drain). Message state (delays, visibility deadlines, backoff) is timed by the clock
    ///   of the first node created for `appName` on `backend`: give all nodes the same clock.
    public init(backend: MemoryBackend, appName: String, nodeID: NodeID, configuration: Configuration = .init(), clock: C,
                logger: Logger = Logger(label: "clusterkit.queue.memory")) {
        self.nodeID = nodeID
        self.appName = appName
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeID)"
        self.logger = logger
        self.broker = MemoryQueueBroker.shared(on: backend, appName: appName, clock: clock)
    }

    // MARK: Producing

    @discardableResult
    public func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID {
        try checkOpen()
        try QueueNameRules.validate(queue)
        guard body.count <= configuration.maximumBodySize else {
            throw QueueError.messageTooLarge(size: body.count, limit: configuration.maximumBodySize)
        }
        return broker.publish(queue, body: body, options: options)
    }

    // MARK: Pulling

    public func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery? {
        try checkOpen()
        try QueueNameRules.validate(queue)
        let time = broker.time
        let deadline = time.now() + max(wait, .zero)
        while true {
            try checkOpen()
            // Checked before taking: a cancelled receive never takes a message.
            try Task.checkCancellation()
            switch broker.pull(queue, owner: nodeID, visibilityTimeout: visibilityTimeout) {
            case .delivered(let delivery):
                return delivery
            case .empty(let signal, let generation, let nextChange):
                let now = time.now()
                if now >= deadline { return nil }
                let wakeAt = min(deadline, nextChange ?? deadline)
                await signal.wait(after: generation, orUntil: { try? await time.sleep(wakeAt) })
            }
        }
    }

    public func acknowledge(_ delivery: QueueDelivery) async throws {
        try checkOpen()
        if broker.acknowledge(delivery) == .notOwned {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
    }

    public func reject(_ delivery: QueueDelivery, reason: String) async throws {
        try checkOpen()
        guard broker.reject(delivery, reason: reason) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
    }

    public func extendVisibility(_ delivery: QueueDelivery, by duration: Duration) async throws -> Bool {
        try checkOpen()
        return broker.extendVisibility(delivery, by: duration)
    }

    // MARK: Consuming

    /// Starts a ``PullConsumer`` on this node. It stops with ``close(drainTimeout:)``.
    public func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        try QueueNameRules.validate(queue)
        return try await consumers.start { onStop in
            PullConsumer(queue: queue, source: self, options: options, clock: clock,
                         idlePullWait: configuration.consumerPullWait, logger: logger, onStop: onStop, handler: handler)
        }
    }

    // MARK: Inspecting

    public func counts(_ queue: String) async throws -> QueueCounts {
        try checkOpen()
        try QueueNameRules.validate(queue)
        return broker.counts(queue)
    }

    public func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter] {
        try checkOpen()
        try QueueNameRules.validate(queue)
        return broker.deadLetters(queue, limit: limit)
    }

    @discardableResult
    public func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int {
        try checkOpen()
        try QueueNameRules.validate(queue)
        return broker.redrive(queue, ids: ids)
    }

    @discardableResult
    public func purge(_ queue: String) async throws -> Int {
        try checkOpen()
        try QueueNameRules.validate(queue)
        return broker.purge(queue)
    }

    // MARK: Closing

    /// Stops this node's consumers (each drains up to `drainTimeout`, see
    /// ``PullConsumer/stop(drainTimeout:)``), then fails every further operation of this
    /// node with ``QueueError/closed`` and ends its waiting receives. Messages it still held
    /// are redelivered to other nodes after their visibility timeout. Idempotent; a second
    /// call waits for the first.
    public func close(drainTimeout: Duration) async {
        let task = state.withLock { state -> Task<Void, Never> in
            if let existing = state.closeTask { return existing }
            let task = Task { await self.shutDown(drainTimeout: drainTimeout) }
            state.closeTask = task
            return task
        }
        await task.value
    }

    private func shutDown(drainTimeout: Duration) async {
        await consumers.stopAll(drainTimeout: drainTimeout)
        state.withLock { state in
            state.closed = true
        }
        broker.wakeAll()
    }

    private func checkOpen() throws(QueueError) {
        if state.withLock({ $0.closed }) { throw QueueError.closed }
    }
}

extension MemoryMessageQueue where C == ContinuousClock {
    /// A node on the real clock.
    public convenience init(backend: MemoryBackend, appName: String, nodeID: NodeID, configuration: Configuration = .init(),
                            logger: Logger = Logger(label: "clusterkit.queue.memory")) {
        self.init(backend: backend, appName: appName, nodeID: nodeID, configuration: configuration, clock: ContinuousClock(),
                  logger: logger)
    }

    /// The node the registry builds: the context's backend, app name, node ID and logger.
    public convenience init(context: AdapterContext, configuration: Configuration = .init()) {
        self.init(backend: context.memory, appName: context.appName, nodeID: context.nodeID, configuration: configuration,
                  logger: context.logger)
    }
}
