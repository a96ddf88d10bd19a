import ClusterKit
import Logging
import Synchronization

/// ``PubSub`` on Redis Streams: durable cluster sync signals.
///
/// ## Storage
/// Each channel is a stream `APP_NAME:pubsub:<channel>`. A publish is one
/// `XADD <stream> MAXLEN ~ <retention> * t <token> n <node ID> [r <routing>] d <payload>`
/// (see ``RedisPubSubEntry``; the payload is a binary-safe bulk string), so the stream keeps
/// roughly the last
/// ``Configuration/retention`` messages of the channel.
///
/// ## Delivery
/// - Each node has one reader connection of its own that reads all its subscribed
///   channels with one blocking `XREAD` (see ``RedisPubSubReader``); many channels never
///   need many connections. Publishing and subscribing use a separate client.
/// - A subscription starts at the stream's newest entry when it is made: it receives every
///   message published after ``subscribe(_:options:)`` returned, none published before it
///   was called, in stream (= publish) order, each once.
/// - `skipSelf`/`onlySelf`/debounce are applied on the receiving node by
///   ``PubSubLocalDispatcher``, exactly as in the memory adapter.
/// - Durable (``PubSubCapabilities/durable``): the reader remembers the ID of the last entry
///   it delivered per stream; when its connection breaks (server restart, killed
///   connection) it reconnects with backoff and continues after those IDs, so messages
///   published during the outage are delivered exactly once and in order — provided the
///   server kept them (persistence such as AOF across a restart, and no more than
///   ``Configuration/retention`` newer messages on the channel).
///
/// ## Publishing while the server is unreachable
/// A publish is retried with backoff for up to ``Configuration/publishRetryTimeout`` while
/// the server cannot be reached. When the connection broke after the `XADD` was written,
/// the retry first checks (by the entry's unique token, among the newest
/// ``Configuration/retention`` entries) whether the entry was added, so it is added once.
/// A command timeout is not retried (the server may still run the command) and throws
/// ``PubSubError/Code/backend``, as does running out of the retry bound and any other
/// failure. Nothing is dropped silently: a publish either returned (the entry is in the
/// stream) or threw (it may or may not be).
///
/// ## Close
/// ``close()`` cancels every subscription and pending debounced delivery (nothing is
/// delivered afterwards), stops the reader and closes both clients; later calls throw
/// ``PubSubError/closed``. The streams stay on the server for other nodes (each keeps at
/// most about ``Configuration/retention`` entries; nothing deletes a channel's stream).
/// Releasing the last reference to a node closes it the same way, in the background.
public final class RedisPubSub: PubSub {
    public let nodeID: NodeID
    /// The app namespace this node publishes and subscribes in.
    public let appName: String
    public let configuration: Configuration
    public var capabilities: PubSubCapabilities { .durable }

    private let client: RedisClient
    private let dispatcher: PubSubLocalDispatcher<ContinuousClock>
    private let reader: RedisPubSubReader
    private let keyPrefix: String
    private let writer: RedisPubSubEntry.Writer
    private let closed = Atomic<Bool>(false)

    /// A node publishing with `client` and reading with `readerClient`, a client used for
    /// nothing else whose command timeout exceeds ``Configuration/blockTime`` (see
    /// ``readerConfiguration(for:blockTime:)``). The node owns and closes both.
    public init(client: RedisClient, readerClient: RedisClient, appName: String, nodeID: NodeID = .generate(),
                configuration: Configuration = .init(), logger: Logger = Logger(label: "clusterkit.redis.pubsub")) {
        self.client = client
        self.appName = appName
        self.nodeID = nodeID
        self.configuration = configuration
        self.keyPrefix = "\(appName):\(Primitive.pubsub.keyRole):"
        self.writer = RedisPubSubEntry.Writer(keyPrefix: keyPrefix, retention: configuration.retention, publisherID: nodeID)
        let changes = RedisPubSubReader.SubscriptionChanges()
        let dispatcher = PubSubLocalDispatcher(nodeID: nodeID, clock: ContinuousClock(), onSubscriptionsChanged: { changes.bump() })
        self.dispatcher = dispatcher
        self.reader = RedisPubSubReader(connection: readerClient, dispatcher: dispatcher, changes: changes, keyPrefix: keyPrefix,
                                        configuration: configuration, logger: logger)
        reader.start()
    }

    /// Connects a node to `url`: a client for publishing (the URL's pool) and a one-connection
    /// reader client. Throws the ``RedisError`` of an unreachable server or wrong password.
    public convenience init(url: RedisURL, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(),
                            logger: Logger = Logger(label: "clusterkit.redis.pubsub")) async throws {
        let clientConfiguration = RedisClientConfiguration(url: url)
        let client = try await RedisClient.connect(clientConfiguration, logger: logger)
        let readerClient: RedisClient
        do {
            readerClient = try await RedisClient.connect(Self.readerConfiguration(for: clientConfiguration, blockTime: configuration.blockTime),
                                                         logger: logger)
        } catch {
            await client.close()
            throw error
        }
        self.init(client: client, readerClient: readerClient, appName: appName, nodeID: nodeID, configuration: configuration, logger: logger)
    }

    /// Same as ``init(url:appName:nodeID:configuration:logger:)``.
    public static func connect(_ url: RedisURL, appName: String, nodeID: NodeID = .generate(), configuration: Configuration = .init(),
                               logger: Logger = Logger(label: "clusterkit.redis.pubsub")) async throws -> RedisPubSub {
        try await RedisPubSub(url: url, appName: appName, nodeID: nodeID, configuration: configuration, logger: logger)
    }

    /// The node the registry builds from its context (URL, app name, node ID, logger).
    public convenience init(context: AdapterContext, configuration: Configuration = .init()) async throws {
        let url = try (context.url ?? ConnectionURL(RedisURL.defaultText)).redis()
        try await self.init(url: url, appName: context.appName, nodeID: context.nodeID, configuration: configuration, logger: context.logger)
    }

    /// The reader's client configuration: one connection whose command timeout is the
    /// block time plus the publishing client's command timeout, so a blocked `XREAD` never
    /// counts as a dead server.
    public static func readerConfiguration(for configuration: RedisClientConfiguration, blockTime: Duration) -> RedisClientConfiguration {
        var reader = configuration
        reader.poolSize = 1
        reader.commandTimeout = configuration.commandTimeout + blockTime
        return reader
    }

    // MARK: PubSub

    public func publish(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) async throws {
        guard !isClosed else { throw PubSubError.closed }
        let envelope = try PubSubEnvelope(validating: channel, payload: payload, publisherID: nodeID, options: options)
        guard payload.count <= configuration.maxPayloadSize else {
            throw PubSubError(code: .payloadTooLarge, message: "payload of \(payload.count) bytes exceeds the limit of \(configuration.maxPayloadSize) bytes")
        }
        let token = RedisPubSubEntry.newTokenBytes()
        let command = writer.xadd(envelope, token: token)
        let deadline = ContinuousClock.now + configuration.publishRetryTimeout
        var attempt = 0
        // Set when a connection broke after the XADD was written: before writing it again,
        // look for its token in the stream, so it is added once.
        var mayHaveBeenAdded = false
        while true {
            do {
                if mayHaveBeenAdded {
                    let found = try await client.evaluate(RedisPubSubEntry.containsToken, keys: [keyPrefix + channel],
                                                          arguments: [token, configuration.retention]).integer()
                    if found == 1 { return }
                    mayHaveBeenAdded = false
                }
                try await client.send(command)
                return
            } catch {
                if error.code == .closed || isClosed { throw PubSubError.closed }
                attempt += 1
                // A broken connection (EOF, reset) is retried; a timeout is not: the server
                // may still run the XADD later, and retrying could add it twice.
                let retryable = error.wasNotSent || error.code == .connectionLost
                guard retryable, ContinuousClock.now < deadline else {
                    throw PubSubError(code: .backend, message: "publishing on '\(channel)' failed: \(error)")
                }
                if !error.wasNotSent { mayHaveBeenAdded = true }
                let delay = min(client.configuration.reconnectBackoff.delay(forRetry: attempt), deadline - ContinuousClock.now)
                do {
                    try await Task.sleep(for: max(.milliseconds(1), delay))
                } catch {
                    throw PubSubError(code: .backend, message: "publishing on '\(channel)' was cancelled while the server was unreachable")
                }
            }
        }
    }

    public func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription {
        guard !isClosed else { throw PubSubError.closed }
        try PubSubChannelRules.validate(channel)
        let waker = Task { [reader, client, blockTime = configuration.blockTime] in
            // Interrupt the reader's blocking read until it has taken the request.
            let deadline = ContinuousClock.now + blockTime
            while reader.hasRequests, !Task.isCancelled, ContinuousClock.now < deadline {
                if await reader.interrupt(using: client) { return }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        defer { waker.cancel() }
        let subscription = try await reader.subscribe(channel, options: options)
        // A caller that gave up meanwhile never sees the subscription: end it, so it is not
        // kept (and fed) until the node closes.
        if Task.isCancelled {
            subscription.cancel()
            throw CancellationError()
        }
        return subscription
    }

    /// `PING` on the publishing connections.
    public func checkHealth() async throws {
        do {
            try await client.checkHealth()
        } catch {
            throw PubSubError(code: .backend, message: "redis pub/sub health check failed: \(error)")
        }
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        dispatcher.close()
        await reader.close(interruptingWith: client)
        await client.close()
    }

    deinit {
        // A node dropped without close() must not keep its reader (and connections) alive
        // or deliver anything more.
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        dispatcher.close()
        Task { [reader, client] in
            await reader.close(interruptingWith: client)
            await client.close()
        }
    }

    /// Whether ``close()`` has run.
    public var isClosed: Bool { closed.load(ordering: .sequentiallyConsistent) }

    /// The server's client ID of the reader connection, `nil` while it is not connected
    /// (lets tests kill exactly that connection).
    var readerConnectionID: Int64? { reader.currentConnectionID }

    /// The number of live subscriptions of this node.
    public var subscriptionCount: Int { dispatcher.subscriptionCount }
}

extension RedisError {
    /// Whether the command certainly never reached the server: no connection could be made,
    /// or the client was waiting out its reconnect backoff (it fails such commands at once
    /// with a "not connected" message, before writing anything).
    var wasNotSent: Bool {
        code == .connectionFailed || (code == .connectionLost && message.hasPrefix("not connected to"))
    }
}
