import ClusterKit
import Logging
import Synchronization

/// The one blocking reader of a ``RedisPubSub`` node: reads every subscribed channel's
/// stream with a single `XREAD COUNT n BLOCK t STREAMS s1 s2 … id1 id2 …` on its own
/// connection and hands each entry, in stream order, to the node's dispatcher.
///
/// ## Positions
/// For every channel it reads, the reader keeps the ID of the last entry it dispatched and
/// reads strictly after it. A channel's position is set when its first subscription is
/// added, to the stream's last entry at that moment (`$` resolved to a concrete ID), so a
/// subscription sees everything published after ``subscribe(_:options:)`` returned and
/// nothing published before it was called. When a channel has no subscription left it is
/// no longer read and its position is forgotten.
///
/// ## Adding subscriptions
/// Subscriptions are added by the reader's own task, between two reads: a subscribe call
/// queues a request and wakes the reader (`CLIENT UNBLOCK` of the reader connection, retried
/// until the request is taken, so it waits at most about one block time). When the channel
/// is already read and its stream has entries beyond the position, the reader first
/// dispatches those to the existing subscriptions (`XRANGE`), so the new subscription gets
/// no history.
///
/// ## Faults
/// A failed read (connection lost, server restarted, timeout) is retried with capped
/// backoff from the same positions: nothing published meanwhile is lost or duplicated, as
/// long as the stream still holds it (see ``RedisPubSub/Configuration/retention``).
final class RedisPubSubReader: Sendable {
    struct Request: Sendable {
        let channel: String
        let options: PubSubSubscribeOptions
        let continuation: CheckedContinuation<PubSubSubscription, any Error>
    }

    private struct State {
        var requests: [Request] = []
        var closed = false
    }

    private let connection: RedisClient
    private let dispatcher: PubSubLocalDispatcher<ContinuousClock>
    private let keyPrefix: String
    private let configuration: RedisPubSub.Configuration
    private let logger: Logger
    private let state = Mutex(State())
    /// The server's ID of the reader connection (`CLIENT ID`), 0 while unknown.
    private let connectionID = Atomic<Int64>(0)
    /// Whether an `XREAD` may be blocked on the server right now.
    private let isBlocking = Atomic<Bool>(false)
    /// Counts changes of the dispatcher's set of subscriptions (see ``SubscriptionChanges``).
    private let changes: SubscriptionChanges
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// - Parameter connection: a client used only by this reader (one connection, with a
    ///   command timeout longer than the block time); closed by ``close()``.
    /// - Parameter changes: bumped by `dispatcher`'s `onSubscriptionsChanged`.
    init(connection: RedisClient, dispatcher: PubSubLocalDispatcher<ContinuousClock>, changes: SubscriptionChanges, keyPrefix: String,
         configuration: RedisPubSub.Configuration, logger: Logger) {
        self.connection = connection
        self.dispatcher = dispatcher
        self.changes = changes
        self.keyPrefix = keyPrefix
        self.configuration = configuration
        self.logger = logger
        (wakeStream, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts the loop. It runs on the reader connection's own thread
    /// (``RedisClient/withConnectionAffinity(isolation:_:)``): each `XREAD`, the decoding
    /// and the local dispatch happen there, without a hand-off to the cooperative pool and
    /// back per read.
    func start() {
        task.withLock { task in
            task = Task { [self] in await connection.withConnectionAffinity { await run() } }
        }
    }

    /// Queues a subscription request; the reader answers it between two reads.
    func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.requests.append(Request(channel: channel, options: options, continuation: continuation))
                return true
            }
            if accepted {
                wakeContinuation.yield()
            } else {
                continuation.resume(throwing: PubSubError.closed)
            }
        }
    }

    /// The server's ID of the reader connection, `nil` while unknown (for tests).
    var currentConnectionID: Int64? {
        let id = connectionID.load(ordering: .acquiring)
        return id == 0 ? nil : id
    }

    /// Whether requests wait for the reader.
    var hasRequests: Bool { state.withLock { !$0.requests.isEmpty } }

    /// Interrupts a blocked `XREAD` (it returns as a timeout) using `client`, another
    /// connection. Returns whether a blocked read was interrupted.
    func interrupt(using client: RedisClient) async -> Bool {
        let id = connectionID.load(ordering: .acquiring)
        guard id != 0, isBlocking.load(ordering: .acquiring) else { return false }
        return (try? await client.send(RedisCommand("CLIENT", "UNBLOCK", id)).integer()) == 1
    }

    /// Stops reading: pending requests fail with ``PubSubError/closed``, the read in flight
    /// is interrupted through `client`, and the reader's connection is closed.
    func close(interruptingWith client: RedisClient) async {
        let requests = state.withLock { state -> [Request] in
            state.closed = true
            defer { state.requests.removeAll() }
            return state.requests
        }
        for request in requests { request.continuation.resume(throwing: PubSubError.closed) }
        wakeContinuation.finish()
        let running = task.withLock { $0 }
        running?.cancel()
        // Interrupt the blocked read; retried because the read may not have reached the
        // server yet. Bounded by the block time, after which the read returns anyway.
        let interrupter = Task { [self, blockTime = configuration.blockTime] in
            let deadline = ContinuousClock.now + blockTime
            while !Task.isCancelled, ContinuousClock.now < deadline {
                if await interrupt(using: client) { return }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        await running?.value
        interrupter.cancel()
        await connection.close()
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: The loop

    private func run() async {
        var positions: [String: RedisStreamID] = [:]
        var wake = wakeStream.makeAsyncIterator()
        var failures = 0
        var read = ReadCommand(channels: [], keyPrefix: keyPrefix, configuration: configuration)
        var seenChanges = UInt64.max
        while !Task.isCancelled && !isClosed {
            let added = await takeRequests(&positions)
            // The channels read are worked out again only when subscriptions changed (the
            // count is read before the set, so a change in between is seen next time).
            let changed = changes.count
            if added || changed != seenChanges {
                seenChanges = changed
                let channels = dispatcher.subscribedChannels
                positions = positions.filter { channels.contains($0.key) }
                read = ReadCommand(channels: Array(positions.keys), keyPrefix: keyPrefix, configuration: configuration)
            }
            if positions.isEmpty {
                // Idle: nothing to read until a subscribe (or close) wakes us.
                if hasRequests { continue }
                guard await wake.next() != nil else { return }
                continue
            }
            do {
                try await readOnce(read, &positions)
                if failures > 0 {
                    logger.info("pub/sub reader resumed", metadata: ["channels": "\(positions.count)"])
                }
                failures = 0
            } catch {
                if isClosed || Task.isCancelled { return }
                connectionID.store(0, ordering: .releasing)
                failures += 1
                if failures == 1 {
                    logger.warning("pub/sub reader lost the server; retrying from the last delivered IDs", metadata: ["error": "\(error)"])
                }
                let delay = Backoff(initial: .milliseconds(20), multiplier: 2, maximum: .seconds(1), jitter: 0.2).delay(forRetry: failures)
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// The `XREAD` of a set of channels, but for their positions: built when the set
    /// changes, not per read (converting every argument per read cost ~250 instructions
    /// per delivered message under callgrind).
    private struct ReadCommand {
        /// The channels read, in the order of their keys in the command.
        let channels: [String]
        /// `XREAD COUNT n BLOCK t STREAMS key…`.
        let head: [[UInt8]]

        init(channels: [String], keyPrefix: String, configuration: RedisPubSub.Configuration) {
            self.channels = channels
            var head: [[UInt8]] = [Array("XREAD".utf8), Array("COUNT".utf8), configuration.readCount.redisBytes,
                                   Array("BLOCK".utf8), configuration.blockTime.wholeMillisecondsRoundedUp.redisBytes, Array("STREAMS".utf8)]
            head += channels.map { Array((keyPrefix + $0).utf8) }
            self.head = head
        }

        /// The command reading after `positions` (which has every channel).
        func command(after positions: [String: RedisStreamID]) -> RedisCommand {
            var arguments: [[UInt8]] = []
            arguments.reserveCapacity(head.count + channels.count)
            arguments += head
            for channel in channels { arguments.append(positions[channel]!.redisBytes) }
            return RedisCommand(arguments)
        }
    }

    /// One `XREAD` of every read channel; dispatches what arrived in stream order.
    private func readOnce(_ read: ReadCommand, _ positions: inout [String: RedisStreamID]) async throws(RedisError) {
        if connectionID.load(ordering: .acquiring) == 0 {
            connectionID.store(try await connection.send(RedisCommand("CLIENT", "ID")).integer(), ordering: .releasing)
        }
        let command = read.command(after: positions)
        // A subscribe that arrived since the last check must not wait for the block time.
        if hasRequests { return }
        isBlocking.store(true, ordering: .releasing)
        // Decoded on the connection's thread straight from hiredis's reply (see
        // RedisPubSubReplyDecoder): copying it into a RedisReply tree first cost about half
        // of a fan-out run under callgrind.
        let streams: [RedisPubSubReplyDecoder.Stream]
        do {
            streams = try await connection.send(command) { [prefixLength = keyPrefix.utf8.count] reply throws(RedisError) in
                try RedisPubSubReplyDecoder.xread(reply, keyPrefixLength: prefixLength)
            }
            isBlocking.store(false, ordering: .releasing)
        } catch {
            isBlocking.store(false, ordering: .releasing)
            throw error
        }
        for stream in streams {  // none: the block time passed, or the read was woken
            dispatch(stream.entries, channel: stream.channel, positions: &positions)
        }
    }

    /// Hands `entries` (in stream order) to the dispatcher as one batch, skipping those at or
    /// before the channel's position, and advances the position.
    private func dispatch(_ entries: [RedisPubSubReplyDecoder.Entry], channel: String, positions: inout [String: RedisStreamID]) {
        var position = positions[channel]
        var envelopes: [PubSubEnvelope] = []
        envelopes.reserveCapacity(entries.count)
        for entry in entries {
            if let position, entry.id <= position { continue }
            if let envelope = entry.envelope { envelopes.append(envelope) }
            position = entry.id
        }
        // One hand-over per read: each subscription takes the batch under one lock and
        // wakes its reader at most once.
        dispatcher.dispatch(contentsOf: envelopes)
        if let position { positions[channel] = position }
    }

    /// Adds the queued subscriptions (see the type's documentation); returns whether there
    /// were any.
    @discardableResult
    private func takeRequests(_ positions: inout [String: RedisStreamID]) async -> Bool {
        let requests = state.withLock { state -> [Request] in
            defer { state.requests.removeAll() }
            return state.requests
        }
        if requests.isEmpty { return false }
        for request in requests {
            do {
                try await add(request, &positions)
            } catch let error as PubSubError {
                request.continuation.resume(throwing: error)
            } catch {
                request.continuation.resume(throwing: PubSubError(code: .backend, message: "subscribing to '\(request.channel)' failed: \(error)"))
            }
        }
        return true
    }

    private func add(_ request: Request, _ positions: inout [String: RedisStreamID]) async throws {
        let key = keyPrefix + request.channel
        let last = try await lastID(key)
        if let current = positions[request.channel], dispatcher.subscribedChannels.contains(request.channel) {
            if current < last {
                // Catch the existing subscriptions up to `last` first: those entries were
                // published before this subscribe and are not for the new subscription.
                let entries = try await connection.send(RedisCommand("XRANGE", key, "(\(current)", last)) { [channel = request.channel] reply throws(RedisError) in
                    try RedisPubSubReplyDecoder.entries(reply, channel: channel)
                }
                dispatch(entries, channel: request.channel, positions: &positions)
                positions[request.channel] = max(positions[request.channel] ?? last, last)
            }
        } else {
            positions[request.channel] = last
        }
        request.continuation.resume(returning: try dispatcher.subscribe(request.channel, options: request.options))
    }

    /// The ID of the stream's newest entry, `0-0` for an empty or missing stream.
    private func lastID(_ key: String) async throws(RedisError) -> RedisStreamID {
        let entries = try await connection.send(RedisCommand("XREVRANGE", key, "+", "-", "COUNT", 1)).array()
        guard let newest = entries.first else { return .zero }
        let parts = try newest.array()
        guard let id = try parts.first?.bytes() else { throw newest.unexpected("a stream entry") }
        return try RedisStreamID(parsing: id)
    }
}

extension RedisPubSubReader {
    /// A count of the changes of a dispatcher's set of subscriptions, bumped by its
    /// `onSubscriptionsChanged` (which runs after each change): lets the reader tell
    /// whether the channels to read may have changed without copying the set per read.
    final class SubscriptionChanges: Sendable {
        private let value = Atomic<UInt64>(0)

        /// Records a change.
        func bump() { value.add(1, ordering: .releasing) }

        /// Changes so far.
        var count: UInt64 { value.load(ordering: .acquiring) }
    }
}
