/// A work queue shared by the nodes of a cluster: a job published on any node is handled
/// by one consumer somewhere.
///
/// ## Delivery guarantee: at-least-once
/// A message leaves the queue only when a handler returned for it (or it was explicitly
/// acknowledged). A thrown error, an exceeded timeout, or a consumer that dies mid-handler
/// leads to another delivery, with ``QueueMessage/attempt`` one higher, so handlers can be
/// idempotent. After ``QueuePublishOptions/maxAttempts`` failed attempts the message moves
/// to the queue's dead-letter store, where ``deadLetters(_:limit:)`` lists it and
/// ``redrive(_:ids:)`` puts it back.
///
/// ## Semantics every adapter follows
/// - Queues live in the app namespace (`APP_NAME:queue:<name>`); names match
///   `[A-Za-z0-9_.-]+`.
/// - Retries wait an exponential, jittered, capped backoff (``QueuePublishOptions/backoff``).
/// - The per-message timeout is enforced: the handler's task is cancelled when it runs
///   longer, and the attempt counts as failed.
/// - Delayed messages are invisible until due and come out in due order; a delay in the past
///   (or zero) means now.
/// - A message held by a live consumer is never handed to another: consumers extend their
///   claim while the handler runs. A consumer that stops without acknowledging (crash,
///   ``close(drainTimeout:)`` past its deadline) loses the message to another consumer
///   after ``QueueConsumerOptions/visibilityTimeout``.
/// - Ordering is FIFO for a single consumer with concurrency 1 and no retries.
public protocol MessageQueue: ClusterAdapter {
    /// The node this adapter consumes as.
    var nodeID: NodeID { get }

    /// Optional guarantees beyond the common semantics.
    var capabilities: QueueCapabilities { get }

    /// Adds a message; returns once the backend has accepted it (for durable adapters: once
    /// it is persisted/confirmed).
    @discardableResult
    func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID

    /// Pulls one message, waiting up to `wait` (zero = do not wait) for one to become
    /// visible. The caller owns it until ``acknowledge(_:)`` or ``reject(_:reason:)``, or
    /// until `visibilityTimeout` passes, after which it may be delivered again.
    ///
    /// A waiting receive is woken as soon as a message becomes visible (no polling delay on
    /// adapters that can be notified). Cancelling it ends the wait with `CancellationError`;
    /// a message the adapter had already taken is never lost: it is either returned or
    /// left in flight, to be redelivered after its visibility timeout.
    func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery?

    /// Renews the claim on a received message: no other consumer gets it before `by` from
    /// now (adapters whose claim period is fixed by the reader, such as Redis Streams, reset
    /// the claim's idle time instead). A zero or negative `by` gives the message up: it
    /// becomes visible again at once and its next delivery counts as a new attempt.
    ///
    /// Returns `false` when the delivery is no longer this caller's (its visibility timeout
    /// passed, or it was acknowledged or rejected): another consumer may then be processing
    /// the message, and the caller should not count on its acknowledgement.
    func extendVisibility(_ delivery: QueueDelivery, by: Duration) async throws -> Bool

    /// Removes a received message for good. Acknowledging twice is harmless. Fails with
    /// ``QueueError/Code/unknownDelivery`` when the claim was lost and the message was
    /// delivered again (to this or another consumer); the message is then left to its new
    /// owner.
    func acknowledge(_ delivery: QueueDelivery) async throws

    /// Records a failed attempt: the message is retried after its backoff, or moved to the
    /// dead-letter store when it has used ``QueueMessage/maxAttempts``. Fails with
    /// ``QueueError/Code/unknownDelivery`` when the delivery is no longer owned (already
    /// settled, or its visibility timeout passed, which already counted the attempt).
    func reject(_ delivery: QueueDelivery, reason: String) async throws

    /// Starts a consumer that runs `handler` for each message, up to
    /// ``QueueConsumerOptions/concurrency`` at a time, acknowledging on return and
    /// rejecting on throw or timeout. Adapters without a native consumer return a
    /// ``PullConsumer`` built on their pull operations, which defines the expected behaviour.
    func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer

    /// How many messages are in each state.
    func counts(_ queue: String) async throws -> QueueCounts

    /// Dead messages, oldest first, at most `limit`.
    func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter]

    /// Moves dead messages back to the queue with a fresh attempt count: the given IDs, or
    /// all when `ids` is `nil`. Returns how many moved.
    @discardableResult
    func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int

    /// Removes waiting messages (not delayed, in-flight or dead ones); returns how many.
    @discardableResult
    func purge(_ queue: String) async throws -> Int

    /// Stops every consumer of this adapter: no new pulls; in-flight handlers get up to
    /// `drainTimeout` to finish (and are acknowledged or rejected as usual); handlers still
    /// running then are cancelled and their messages left unacknowledged, for redelivery.
    /// Then releases connections. Idempotent.
    func close(drainTimeout: Duration) async
}

extension MessageQueue {
    /// Graceful close with a 10-second drain.
    public func close() async {
        await close(drainTimeout: .seconds(10))
    }

    /// Publishes with default options.
    @discardableResult
    public func publish(_ queue: String, _ body: [UInt8]) async throws -> QueueMessageID {
        try await publish(queue, body, options: .init())
    }

    /// Pulls one message with a 30-second visibility timeout.
    public func receive(_ queue: String, wait: Duration = .zero) async throws -> QueueDelivery? {
        try await receive(queue, wait: wait, visibilityTimeout: .seconds(30))
    }

    /// Starts a consumer with default options.
    public func consume(_ queue: String, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        try await consume(queue, options: .init(), handler: handler)
    }

    /// Dead messages, at most 100.
    public func deadLetters(_ queue: String) async throws -> [QueueDeadLetter] {
        try await deadLetters(queue, limit: 100)
    }
}

/// A message handler. Return to acknowledge; throw to fail the attempt. It runs in its own
/// task, cancelled when the message's timeout passes or the consumer is stopped past its
/// drain deadline: long handlers should check for cancellation. The timeout is enforced
/// either way (the attempt is rejected at the deadline and a later return acknowledges
/// nothing), but a handler that ignores cancellation keeps running, and keeps its
/// concurrency slot, until it returns.
public typealias QueueHandler = @Sendable (QueueMessage) async throws -> Void

/// Optional queue guarantees.
public struct QueueCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Messages whose publish returned survive a backend restart.
    public static let durable = QueueCapabilities(rawValue: 1 << 0)
}

/// Rules for queue names shared by all adapters.
public enum QueueNameRules {
    /// Throws ``QueueError/Code/invalidQueueName`` unless `name` is 1...200 characters of
    /// `[A-Za-z0-9_.-]`.
    public static func validate(_ name: String) throws(QueueError) {
        guard (1...200).contains(name.utf8.count), name.utf8.allSatisfy(CacheName.allowed) else {
            throw QueueError(code: .invalidQueueName, message: "invalid queue name '\(name)': use 1-200 characters from [A-Za-z0-9_.-]")
        }
    }
}
