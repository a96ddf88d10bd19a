import ClusterKit
import Logging
import Synchronization

/// A ``MessageQueue`` on Redis Streams with one consumer group per queue: every node with
/// the same server, database and `APP_NAME` shares the queues.
///
/// ## Layout
/// Queue `<name>` is the stream `APP_NAME:queue:<name>` (one entry per visible or in-flight
/// message), read by the group `clusterkit` with the node ID as consumer name; delayed
/// messages and retries wait in the sorted set `…:delayed` (score = due time), the claims of
/// messages taken with ``receive(_:wait:visibilityTimeout:)`` are the sorted set `…:leases`
/// (score = claim deadline), dead letters the stream `…:dead`. A publish without delay is
/// a plain `XADD`; every other state change is one Lua script (``RedisQueueScripts``),
/// atomic on the server, timed by the server's clock.
///
/// ## Semantics
/// - **Consumers** (``consume(_:options:handler:)``) are native consumer-group readers
///   (``RedisStreamConsumer``): batched `XREADGROUP` on a connection of their own, bounded
///   by free handler slots; batched `XACK` + `XDEL` after handlers return; a start-up replay
///   of the node's own pending entries; claims kept alive by resetting the idle time of
///   held entries; `XAUTOCLAIM` (min idle = the visibility timeout) taking over the entries
///   of dead consumers.
/// - **At-least-once.** An entry leaves the stream only when a handler returned for it (or
///   it was acknowledged). Acknowledge or reject of a `receive` delivery only work while it
///   still owns the entry (consumer name and delivery count checked). A stopped holder's
///   entry is taken over by another node, as the next attempt (the group's delivery count
///   goes up by one), or dead-lettered when it already had `maxAttempts` attempts: a
///   `receive` delivery once its lease passed, a consumer delivery once it was idle for the
///   taker's visibility timeout (use one visibility timeout per queue). ``extendVisibility(_:by:)``
///   moves the lease and resets the entry's idle time (`XCLAIM … JUSTID`).
/// - **Retries**: reject (or a failed/timed-out handler) moves the message to the delayed
///   set with attempt + 1 and its backoff, or to the dead-letter stream, in the same script
///   that removes the entry. Due delayed messages are moved into the stream by every
///   `receive` and `counts`, by waiting receivers and by consumers at least every
///   ``Configuration/pollInterval``.
/// - **Waiting receives** block with `XREAD BLOCK` on a connection of their own (woken by
///   any new entry), for at most ``Configuration/pollInterval`` at a time, so leases that
///   expire and delayed messages that fall due are noticed within that interval.
/// - **Start-up replay**: the first consumer (or `receive`) of a queue on this node first
///   takes back this node's own pending entries (left by an earlier process with the same
///   node ID) as new attempts, instead of leaving them for their visibility timeout. Node
///   IDs must be unique among live processes and stable across restarts.
/// - **Counts** come from Redis: waiting = stream length minus the group's pending count,
///   in flight = pending count (`XPENDING` summary; an entry whose claim lapsed stays in
///   flight until another node takes it over), delayed = the delayed set, dead = the
///   dead-letter stream. ``purge(_:)`` deletes only entries the group never delivered.
/// - **Message IDs** are the stream entry ID of the first publish (`d<n>` from a
///   per-queue counter for delayed publishes); they stay the same across retries,
///   takeovers and re-drives (the stream entry ID changes on retry).
/// - **Durable**: with Redis persistence (AOF `appendfsync always`), a message whose
///   publish returned survives a server restart. A publish that fails throws
///   ``QueueError/Code/backend`` (after a timeout or lost connection it may or may not have
///   been added); nothing is dropped silently. The client reconnects by itself.
/// - ``close(drainTimeout:)`` drains this node's consumers, then closes its connections;
///   messages it still holds go to other nodes after their visibility timeout.
public final class RedisMessageQueue: MessageQueue {
    public struct Configuration: Sendable, Hashable {
        /// The largest body ``publish(_:_:options:)`` accepts, in bytes.
        public var maximumBodySize: Int
        /// The longest a waiting receive blocks in one `XREAD`: bounds how late an expired
        /// claim or a due delayed message published by another node is noticed by an idle
        /// receiver, and how long a cancelled receive takes to return. Consumers move due
        /// delayed messages into the stream at least this often.
        public var pollInterval: Duration
        /// The longest one blocking `XREADGROUP` of a consumer waits (it is also bounded by
        /// the consumer's takeover interval, a quarter of its visibility timeout, at most a
        /// second).
        public var consumerPullWait: Duration

        public init(maximumBodySize: Int = 16 * 1024 * 1024, pollInterval: Duration = .milliseconds(100),
                    consumerPullWait: Duration = .seconds(5)) {
            self.maximumBodySize = max(0, maximumBodySize)
            self.pollInterval = max(pollInterval, .milliseconds(1))
            self.consumerPullWait = consumerPullWait
        }
    }

    public let nodeID: NodeID
    public let appName: String
    public let configuration: Configuration
    public var capabilities: QueueCapabilities { .durable }

    private let client: RedisClient
    private let logger: Logger
    private let state = Mutex(NodeState())
    /// The consumers this node started; stopped on close.
    private let consumers = QueueConsumerRegistry()

    private struct NodeState {
        var closed = false
        var closeTask: Task<Void, Never>?
        /// Per queue, the start-up replay of own pending entries: every receive of the queue
        /// awaits it before its first take, so it never expires a claim taken by this process.
        var replays: [String: Task<Void, any Error>] = [:]
        /// Blocking-read connections not in use, and every one made (closed on close).
        var idleWaiters: [RedisClient] = []
        var allWaiters: [RedisClient] = []
        /// The queue the last publish went to and its stream key's bytes (see ``openStream(_:)``).
        var lastStream: (queue: String, key: [UInt8])?
    }

    /// A node using `client` (closed on ``close(drainTimeout:)``) in namespace `appName`,
    /// consuming as `nodeID` (must be unique among live processes, and stable across
    /// restarts to replay its own pending entries).
    public init(client: RedisClient, appName: String, nodeID: NodeID, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "clusterkit.queue.redis")) {
        self.client = client
        self.appName = appName
        self.nodeID = nodeID
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeID)"
        self.logger = logger
    }

    /// The node the registry builds: its own connections to the context's URL.
    public convenience init(context: AdapterContext, configuration: Configuration = .init()) async throws {
        self.init(client: try await RedisClient.connect(for: context), appName: context.appName, nodeID: context.nodeID,
                  configuration: configuration, logger: context.logger)
    }

    // MARK: Producing

    @discardableResult
    public func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID {
        let stream = try openStream(queue)
        guard body.count <= configuration.maximumBodySize else {
            throw QueueError.messageTooLarge(size: body.count, limit: configuration.maximumBodySize)
        }
        let delay = options.delay.map { $0 > .zero ? $0.wholeMillisecondsRoundedUp : 0 } ?? 0
        let reply: RedisReply
        if delay > 0 {
            let keys = RedisQueueKeys(appName: appName, queue: queue)
            reply = try await run { () throws(RedisError) in
                try await client.evaluate(RedisQueueScripts.publishDelayed, keys: RedisQueueScripts.keys(keys),
                                          arguments: [RedisQueueKeys.group, delay] + RedisQueueEntry.fields(body: body, options: options))
            }
        } else {
            // A plain XADD: the entry ID is the message ID (the group is created by every
            // consumer and script, reading from the stream's start, so no entry is missed).
            let command = RedisQueueEntry.add(to: stream, body: body, options: options)
            reply = try await run { () throws(RedisError) in try await client.send(command) }
        }
        return QueueMessageID(try decode { () throws(RedisError) in String(decoding: try reply.bytes() ?? [], as: UTF8.self) })
    }

    // MARK: Pulling

    public func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery? {
        let keys = try open(queue)
        let clock = ContinuousClock()
        let deadline = clock.now + max(wait, .zero)
        try await replayOwnPendingEntries(queue, keys)
        while true {
            try checkOpen()
            // Checked before taking: a cancelled receive never takes a message.
            try Task.checkCancellation()
            let reply = try await run { () throws(RedisError) in
                try await client.evaluate(RedisQueueScripts.take, keys: RedisQueueScripts.keys(keys),
                                          arguments: [RedisQueueKeys.group, nodeID.rawValue,
                                                      max(Int64(1), visibilityTimeout.wholeMillisecondsRoundedUp)])
            }
            let parts = try decode { () throws(RedisError) in try reply.array() }
            if parts.count == 4 {
                return try decode { () throws(RedisError) in
                    let entryID = String(decoding: try parts[1].bytes() ?? [], as: UTF8.self)
                    let count = Int(try parts[2].integer())
                    let (message, _) = try RedisQueueEntry.message(queue: queue, entryID: entryID, fields: parts[3], deliveries: count)
                    return QueueDelivery(message: message, receipt: "\(entryID)/\(count)")
                }
            }
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { return nil }
            let (lastID, nextChange) = try decode { () throws(RedisError) in
                (String(decoding: try parts[1].bytes() ?? [], as: UTF8.self), try parts[2].integer())
            }
            var block = min(remaining, configuration.pollInterval)
            if nextChange >= 0 { block = min(block, .milliseconds(nextChange)) }
            try await waitForEntries(keys.stream, after: lastID, block: block)
        }
    }

    /// Runs the start-up replay of `queue` once per node (again after a failure).
    private func replayOwnPendingEntries(_ queue: String, _ keys: RedisQueueKeys) async throws {
        let task = state.withLock { state in
            if let existing = state.replays[queue] { return existing }
            let task = Task { [client, nodeID] in
                let replayed = try await self.run { () throws(RedisError) in
                    try await client.evaluate(RedisQueueScripts.replayOwn, keys: RedisQueueScripts.keys(keys),
                                              arguments: [RedisQueueKeys.group, nodeID.rawValue]).integer()
                }
                if replayed > 0 {
                    self.logger.info("replaying pending queue entries left by an earlier process of this node",
                                     metadata: ["queue": "\(queue)", "entries": "\(replayed)"])
                }
            }
            state.replays[queue] = task
            return task
        }
        do {
            try await task.value
        } catch {
            state.withLock { state in
                if state.replays[queue] == task { state.replays[queue] = nil }
            }
            throw error
        }
    }

    /// Blocks on a connection of its own until the stream has an entry after `lastID`, or
    /// `block` passed.
    private func waitForEntries(_ stream: String, after lastID: String, block: Duration) async throws {
        let milliseconds = max(Int64(1), block.wholeMillisecondsRoundedUp)
        let waiter = try await takeWaiter()
        // After close, the waiter was closed with the others: it is not kept.
        defer { state.withLock { if !$0.closed { $0.idleWaiters.append(waiter) } } }
        try await run { () throws(RedisError) in
            _ = try await waiter.send(RedisCommand("XREAD", "BLOCK", milliseconds, "STREAMS", stream, lastID))
        }
    }

    private func takeWaiter() async throws -> RedisClient {
        if let waiter = state.withLock({ $0.idleWaiters.popLast() }) { return waiter }
        let waiter = try await connectBlockingReader()
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.allWaiters.append(waiter)
            return true
        }
        guard accepted else {
            await waiter.close()
            throw QueueError.closed
        }
        return waiter
    }

    /// A one-connection client for blocking reads: its read timeout is the command timeout
    /// plus the longest block (``Configuration/pollInterval`` for receives,
    /// ``Configuration/consumerPullWait`` for consumers), so a block is never mistaken for a
    /// dead server.
    private func connectBlockingReader() async throws(QueueError) -> RedisClient {
        var configuration = client.configuration
        configuration.poolSize = 1
        configuration.commandTimeout += max(self.configuration.pollInterval, self.configuration.consumerPullWait)
        return try await run { () throws(RedisError) in try await RedisClient.connect(configuration, logger: logger) }
    }

    public func acknowledge(_ delivery: QueueDelivery) async throws {
        let (keys, entryID, count) = try parse(delivery)
        let result = try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.acknowledge, keys: RedisQueueScripts.keys(keys),
                                      arguments: [RedisQueueKeys.group, nodeID.rawValue, entryID, count]).integer()
        }
        if result < 0 { throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue) }
    }

    public func reject(_ delivery: QueueDelivery, reason: String) async throws {
        let (keys, entryID, count) = try parse(delivery)
        guard try await reject(entryID: entryID, deliveries: count, message: delivery.message, reason: reason, keys: keys) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
    }

    /// Rejects the `deliveries`-th delivery of entry `entryID` to this node: a retry after
    /// the message's backoff, or a dead letter. `false` when this node no longer holds it.
    func reject(entryID: String, deliveries: Int, message: QueueMessage, reason: String, keys: RedisQueueKeys) async throws(QueueError) -> Bool {
        let retryDelay = message.backoff.delay(forRetry: message.attempt).wholeMillisecondsRoundedUp
        let result = try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.reject, keys: RedisQueueScripts.keys(keys),
                                      arguments: [RedisQueueKeys.group, nodeID.rawValue, entryID, deliveries, reason, max(Int64(0), retryDelay)]).integer()
        }
        return result == 1
    }

    public func extendVisibility(_ delivery: QueueDelivery, by duration: Duration) async throws -> Bool {
        let (keys, entryID, count) = try parse(delivery)
        let milliseconds = duration > .zero ? duration.wholeMillisecondsRoundedUp : 0
        return try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.extend, keys: RedisQueueScripts.keys(keys),
                                      arguments: [RedisQueueKeys.group, nodeID.rawValue, entryID, count, milliseconds]).integer() == 1
        }
    }

    // MARK: Consuming

    /// Starts a ``RedisStreamConsumer`` (a native consumer-group reader with batched reads
    /// and acknowledgements, on a connection of its own). It stops with
    /// ``close(drainTimeout:)``.
    public func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        let keys = try open(queue)
        try await createGroup(keys)
        let reader = try await connectBlockingReader()
        do {
            return try await consumers.start { onStop in
                RedisStreamConsumer(queue: queue, keys: keys, node: self, client: client, reader: reader, options: options,
                                    replay: claimStartupReplay(queue), logger: logger, onStop: onStop, handler: handler)
            }
        } catch {
            // Refused before the consumer existed: the registry stopped any consumer it built
            // (which closes its reader), so closing again is harmless.
            await reader.close()
            throw error
        }
    }

    /// Creates the queue's consumer group (reading from the stream's start) unless it exists.
    func createGroup(_ keys: RedisQueueKeys) async throws(QueueError) {
        do {
            _ = try await client.send(RedisCommand("XGROUP", "CREATE", keys.stream, RedisQueueKeys.group, "0", "MKSTREAM"))
        } catch where error.isServerError(prefix: "BUSYGROUP") {
            return
        } catch where error.code == .closed {
            throw QueueError.closed
        } catch {
            throw QueueError(code: .backend, message: "redis: \(error)")
        }
    }

    /// Whether the caller (the first consumer or receive of `queue` on this node) runs the
    /// start-up replay of this node's own pending entries; it is run once per queue and node.
    private func claimStartupReplay(_ queue: String) -> Bool {
        state.withLock { state in
            guard state.replays[queue] == nil else { return false }
            state.replays[queue] = Task {}
            return true
        }
    }

    // MARK: Inspecting

    public func counts(_ queue: String) async throws -> QueueCounts {
        let keys = try open(queue)
        let reply = try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.counts, keys: RedisQueueScripts.keys(keys), arguments: [RedisQueueKeys.group])
        }
        return try decode { () throws(RedisError) in
            let values = try reply.array().map { (value) throws(RedisError) in Int(try value.integer()) }
            guard values.count == 4 else { throw RedisError(code: .protocolError, message: "queue counts returned \(values.count) values") }
            return QueueCounts(waiting: values[0], delayed: values[1], inFlight: values[2], dead: values[3])
        }
    }

    public func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter] {
        let keys = try open(queue)
        guard limit > 0 else { return [] }
        let reply = try await run { () throws(RedisError) in
            try await client.send(RedisCommand("XRANGE", keys.dead, "-", "+", "COUNT", limit))
        }
        return try decode { () throws(RedisError) in
            try reply.array().map { (entry) throws(RedisError) in
                let parts = try entry.array()
                guard parts.count == 2 else { throw RedisError(code: .protocolError, message: "malformed dead-letter entry") }
                let (message, fields) = try RedisQueueEntry.message(
                    queue: queue, entryID: String(decoding: try parts[0].bytes() ?? [], as: UTF8.self), fields: parts[1])
                return QueueDeadLetter(message: message, lastError: String(decoding: fields.lastError ?? [], as: UTF8.self),
                                       diedAtMilliseconds: fields.diedAt.flatMap(RedisQueueEntry.decimal) ?? 0)
            }
        }
    }

    @discardableResult
    public func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int {
        let keys = try open(queue)
        let arguments: [any RedisArgument] = [RedisQueueKeys.group, ids == nil ? "1" : "0"] + (ids ?? []).map(\.rawValue)
        let moved = try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.redrive, keys: RedisQueueScripts.keys(keys), arguments: arguments).integer()
        }
        return Int(moved)
    }

    @discardableResult
    public func purge(_ queue: String) async throws -> Int {
        let keys = try open(queue)
        let removed = try await run { () throws(RedisError) in
            try await client.evaluate(RedisQueueScripts.purge, keys: RedisQueueScripts.keys(keys), arguments: [RedisQueueKeys.group]).integer()
        }
        return Int(removed)
    }

    public func checkHealth() async throws {
        try checkOpen()
        try await client.checkHealth()
    }

    // MARK: Closing

    /// Stops this node's consumers (each drains up to `drainTimeout`), then fails every
    /// further operation with ``QueueError/closed``, ends waiting receives and closes the
    /// connections. Idempotent; a second call waits for the first.
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
        let waiters = state.withLock { state in
            state.closed = true
            state.idleWaiters.removeAll()
            defer { state.allWaiters.removeAll() }
            return state.allWaiters
        }
        for waiter in waiters { await waiter.close() }
        await client.close()
    }

    // MARK: Helpers

    private func checkOpen() throws(QueueError) {
        if state.withLock({ $0.closed }) { throw QueueError.closed }
    }

    /// Checks that the node is open and `queue` a valid name, and returns its stream key's
    /// bytes: validated and built once for the queue of the previous publish (a producer
    /// usually publishes to one queue), so a publish needs neither the name check nor the
    /// key's interpolation and copy (~0.6k instructions and an allocation under callgrind).
    private func openStream(_ queue: String) throws(QueueError) -> [UInt8] {
        let cached = try state.withLock { (state) throws(QueueError) -> [UInt8]? in
            if state.closed { throw QueueError.closed }
            guard let last = state.lastStream, last.queue == queue else { return nil }
            return last.key
        }
        if let cached { return cached }
        try QueueNameRules.validate(queue)
        let key = Array(RedisQueueKeys.stream(appName: appName, queue: queue).utf8)
        state.withLock { $0.lastStream = (queue, key) }
        return key
    }

    private func open(_ queue: String) throws(QueueError) -> RedisQueueKeys {
        try checkOpen()
        try QueueNameRules.validate(queue)
        return RedisQueueKeys(appName: appName, queue: queue)
    }

    /// The keys, entry ID and delivery count of a delivery's receipt.
    private func parse(_ delivery: QueueDelivery) throws(QueueError) -> (RedisQueueKeys, String, Int) {
        let keys = try open(delivery.message.queue)
        let parts = delivery.receipt.split(separator: "/")
        guard parts.count == 2, let count = Int(parts[1]) else {
            throw QueueError.unknownDelivery(delivery.message.id, queue: delivery.message.queue)
        }
        return (keys, String(parts[0]), count)
    }

    func run<T>(_ body: () async throws(RedisError) -> T) async throws(QueueError) -> T {
        do {
            return try await body()
        } catch where error.code == .closed {
            throw QueueError.closed
        } catch {
            throw QueueError(code: .backend, message: "redis: \(error)")
        }
    }

    func decode<T>(_ body: () throws(RedisError) -> T) throws(QueueError) -> T {
        do {
            return try body()
        } catch {
            throw QueueError(code: .backend, message: "redis: \(error)")
        }
    }
}
