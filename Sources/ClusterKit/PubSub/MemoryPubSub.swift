import Synchronization

/// In-process pub/sub: every node created from the same ``MemoryBackend`` (and app name)
/// receives what any of them publishes, as nodes sharing one Redis would.
///
/// ## Behaviour
/// - Channels are namespaced by app name: nodes of two apps on one backend never see each
///   other's messages.
/// - ``publish(_:_:options:)`` fans out synchronously: when it returns, the message is in the
///   buffer (or debounce window) of every matching subscription of every node. It never
///   waits for a reader; a subscription that falls more than its `bufferSize` behind loses
///   its oldest messages (counted in ``PubSubSubscription/droppedCount``).
/// - All subscriptions see the messages of a channel in one order: publish order.
/// - A subscription receives messages published after ``subscribe(_:options:)`` returned.
/// - Not durable (``capabilities`` is empty): nothing is kept for subscriptions that do not
///   exist yet.
/// - ``close()`` cancels this node's subscriptions and pending debounced deliveries (nothing
///   is delivered afterwards) and leaves the bus; later `publish`/`subscribe` calls throw
///   ``PubSubError/closed``. Other nodes are unaffected. Releasing the last reference to
///   a node closes it the same way (its subscriptions end rather than wait forever), so
///   keep the node while its subscriptions are in use.
///
/// Debounce windows are measured on the injected clock (a ``ManualClock`` in tests).
public final class MemoryPubSub<C: Clock>: PubSub where C.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// The largest payload accepted, in bytes; larger ones throw
        /// ``PubSubError/Code/payloadTooLarge``.
        public var maxPayloadSize: Int

        /// - Parameter maxPayloadSize: defaults to 16 MiB.
        public init(maxPayloadSize: Int = 16 * 1024 * 1024) {
            self.maxPayloadSize = max(0, maxPayloadSize)
        }
    }

    private struct State {
        var closed = false
        var membership: UInt64?
    }

    public let nodeID: NodeID
    /// The app namespace this node publishes and subscribes in.
    public let appName: String
    public let configuration: Configuration
    public var capabilities: PubSubCapabilities { [] }

    private let bus: MemoryPubSubBus
    private let dispatcher: PubSubLocalDispatcher<C>
    private let state = Mutex(State())

    /// A node on `backend` in the namespace `appName`.
    public init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(), clock: C) {
        self.nodeID = nodeID
        self.appName = appName
        self.configuration = configuration
        self.bus = MemoryPubSubBus.shared(in: backend)
        let dispatcher = PubSubLocalDispatcher(nodeID: nodeID, clock: clock)
        self.dispatcher = dispatcher
        let membership = bus.join(appName: appName) { envelope in dispatcher.dispatch(envelope) }
        state.withLock { $0.membership = membership }
    }

    /// The node described by a registry context (its backend, app name and node ID).
    public convenience init(context: AdapterContext, configuration: Configuration = .init(), clock: C) {
        self.init(backend: context.memory, appName: context.appName, nodeID: context.nodeID, configuration: configuration, clock: clock)
    }

    public func publish(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) async throws {
        try publishNow(channel, payload, options: options)
    }

    /// The synchronous body of ``publish(_:_:options:)``.
    func publishNow(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) throws(PubSubError) {
        guard !isClosed else { throw PubSubError.closed }
        let envelope = try PubSubEnvelope(validating: channel, payload: payload, publisherID: nodeID, options: options)
        guard payload.count <= configuration.maxPayloadSize else {
            throw PubSubError(code: .payloadTooLarge, message: "payload of \(payload.count) bytes exceeds the limit of \(configuration.maxPayloadSize) bytes")
        }
        bus.publish(envelope, appName: appName)
    }

    public func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription {
        // The dispatcher throws `closed` once close() has run.
        try dispatcher.subscribe(channel, options: options)
    }

    public func close() async {
        let membership = state.withLock { state -> UInt64? in
            state.closed = true
            defer { state.membership = nil }
            return state.membership
        }
        if let membership { bus.leave(membership, appName: appName) }
        dispatcher.close()
    }

    deinit {
        // A node dropped without close() must not stay on the bus forever.
        if let membership = state.withLock({ $0.membership }) { bus.leave(membership, appName: appName) }
        dispatcher.close()
    }

    /// Whether ``close()`` has run.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// The number of live subscriptions of this node.
    public var subscriptionCount: Int { dispatcher.subscriptionCount }
}

extension MemoryPubSub where C == ContinuousClock {
    /// A node on `backend` in the namespace `appName`, timing debounces on the continuous clock.
    public convenience init(backend: MemoryBackend, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init()) {
        self.init(backend: backend, appName: appName, nodeID: nodeID, configuration: configuration, clock: ContinuousClock())
    }

    /// The node described by a registry context, timing debounces on the continuous clock.
    public convenience init(context: AdapterContext, configuration: Configuration = .init()) {
        self.init(context: context, configuration: configuration, clock: ContinuousClock())
    }
}
