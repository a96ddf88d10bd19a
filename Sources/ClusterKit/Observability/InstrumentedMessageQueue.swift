import CoreMetrics

/// A ``MessageQueue`` that reports published, processed, failed, retried and dead-lettered
/// messages and handler durations per queue, and traces every operation (and each handler
/// run), then does exactly what the wrapped queue does.
///
/// ## How outcomes are counted
/// - Consumers (``consume(_:options:handler:)``): the handler is wrapped. A return within
///   the message's timeout is `processed`; a throw, or a return after the timeout (the
///   adapter already rejected the attempt at the deadline), is `failed`, and then `retried`
///   when attempts remain (`attempt < maxAttempts`) or `dead_lettered` when it was the
///   last. Every run's duration goes to `clusterkit_queue_handler_duration`. A handler
///   cancelled by a consumer stopped past its drain deadline counts as failed too (its
///   message is redelivered).
/// - Pulls: ``acknowledge(_:)`` counts `processed`, ``reject(_:reason:)`` counts `failed`
///   and `retried` or `dead_lettered` the same way.
/// Each attempt is counted once: the wrapped adapter's own consumers settle messages on
/// the wrapped adapter, not through this decorator.
public struct InstrumentedMessageQueue: MessageQueue {
    /// The wrapped queue.
    public let base: any MessageQueue
    private let scope: InstrumentationScope
    private let metrics: MetricsByName<QueueMetrics>

    struct QueueMetrics: Sendable {
        let published: Counter
        let processed: Counter
        let failed: Counter
        let retried: Counter
        let deadLettered: Counter
        let handlerDuration: Timer

        /// Counts a failed attempt of `message` and what follows from it.
        func countFailure(of message: QueueMessage) {
            failed.increment()
            if message.attempt < message.maxAttempts { retried.increment() } else { deadLettered.increment() }
        }
    }

    /// - Parameter adapter: the adapter's registered name, the `adapter` dimension.
    public init(_ base: any MessageQueue, adapter: String, observability: Observability = .init()) {
        self.base = base
        let scope = InstrumentationScope(.queue, adapter: adapter, observability: observability,
                                         errorsLabel: ClusterMetricNames.queueErrors)
        self.scope = scope
        self.metrics = MetricsByName { name in
            QueueMetrics(published: scope.counter(ClusterMetricNames.queuePublished, name: name),
                         processed: scope.counter(ClusterMetricNames.queueProcessed, name: name),
                         failed: scope.counter(ClusterMetricNames.queueFailed, name: name),
                         retried: scope.counter(ClusterMetricNames.queueRetried, name: name),
                         deadLettered: scope.counter(ClusterMetricNames.queueDeadLettered, name: name),
                         handlerDuration: scope.timer(ClusterMetricNames.queueHandlerDuration, name: name))
        }
    }

    public var nodeID: NodeID { base.nodeID }
    public var capabilities: QueueCapabilities { base.capabilities }

    @discardableResult
    public func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID {
        try await scope.traced("publish", name: queue) {
            let id = try await base.publish(queue, body, options: options)
            metrics[queue].published.increment()
            return id
        }
    }

    public func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery? {
        try await scope.traced("receive", name: queue) {
            // Adapters may open connections here (Redis' blocking readers): they report
            // their reconnects to this scope's factory.
            try await ConnectionObserver.$metricsFactory.withValue(scope.factory) {
                try await base.receive(queue, wait: wait, visibilityTimeout: visibilityTimeout)
            }
        }
    }

    public func extendVisibility(_ delivery: QueueDelivery, by: Duration) async throws -> Bool {
        try await scope.traced("extendVisibility", name: delivery.message.queue) { try await base.extendVisibility(delivery, by: by) }
    }

    public func acknowledge(_ delivery: QueueDelivery) async throws {
        try await scope.traced("acknowledge", name: delivery.message.queue) {
            try await base.acknowledge(delivery)
            metrics[delivery.message.queue].processed.increment()
        }
    }

    public func reject(_ delivery: QueueDelivery, reason: String) async throws {
        try await scope.traced("reject", name: delivery.message.queue) {
            try await base.reject(delivery, reason: reason)
            metrics[delivery.message.queue].countFailure(of: delivery.message)
        }
    }

    public func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        let handler = instrumented(handler, metrics: metrics[queue])
        return try await scope.traced("consume", name: queue) {
            // Consumers may open their own connections (RabbitMQ): they report their
            // reconnects to this scope's factory.
            try await ConnectionObserver.$metricsFactory.withValue(scope.factory) {
                try await base.consume(queue, options: options, handler: handler)
            }
        }
    }

    public func counts(_ queue: String) async throws -> QueueCounts {
        try await scope.traced("counts", name: queue) { try await base.counts(queue) }
    }

    public func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter] {
        try await scope.traced("deadLetters", name: queue) { try await base.deadLetters(queue, limit: limit) }
    }

    @discardableResult
    public func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int {
        try await scope.traced("redrive", name: queue) { try await base.redrive(queue, ids: ids) }
    }

    @discardableResult
    public func purge(_ queue: String) async throws -> Int {
        try await scope.traced("purge", name: queue) { try await base.purge(queue) }
    }

    public func checkHealth() async throws {
        try await scope.traced("checkHealth") { try await base.checkHealth() }
    }

    public func close(drainTimeout: Duration) async {
        await base.close(drainTimeout: drainTimeout)
    }

    public func close() async {
        await base.close()
    }

    /// `handler`, timed and counted, inside a `queue.handle` span.
    private func instrumented(_ handler: @escaping QueueHandler, metrics: QueueMetrics) -> QueueHandler {
        let scope = self.scope
        return { message in
            let clock = ContinuousClock()
            let start = clock.now
            do {
                try await scope.traced("handle", name: message.queue, countingErrors: false) { try await handler(message) }
            } catch {
                metrics.handlerDuration.recordNanoseconds((clock.now - start).nanosecondsForMetrics)
                metrics.countFailure(of: message)
                throw error
            }
            let elapsed = clock.now - start
            metrics.handlerDuration.recordNanoseconds(elapsed.nanosecondsForMetrics)
            if elapsed > message.timeout {
                metrics.countFailure(of: message)
            } else {
                metrics.processed.increment()
            }
        }
    }
}
