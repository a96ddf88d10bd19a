import ClusterKit
import Synchronization

/// A memory queue node with one deliberate defect, to prove conformance cases catch it.
/// Its consumers run the shared ``PullConsumer`` on the wrapper itself, so a defect in a
/// pull operation reaches consumers too.
final class BrokenQueue: MessageQueue {
    enum Defect: Sendable, CustomStringConvertible {
        /// `acknowledge` does nothing: the message comes back after its visibility timeout.
        case acknowledgeDoesNothing
        /// `reject` removes the message instead of retrying it.
        case rejectDropsMessage
        /// `extendVisibility` claims success without extending anything.
        case extendDoesNothing
        /// Consumers ignore their gate.
        case ignoresGate
        /// Consumers run any number of handlers at once.
        case unboundedConcurrency

        var description: String {
            switch self {
            case .acknowledgeDoesNothing: "acknowledge does nothing"
            case .rejectDropsMessage: "reject drops the message"
            case .extendDoesNothing: "extendVisibility does nothing"
            case .ignoresGate: "consumers ignore the gate"
            case .unboundedConcurrency: "consumers ignore concurrency"
            }
        }
    }

    private let inner: MemoryMessageQueue<ContinuousClock>
    private let defect: Defect
    private let consumers = Mutex<[PullConsumer<ContinuousClock>]>([])

    init(_ inner: MemoryMessageQueue<ContinuousClock>, defect: Defect) {
        self.inner = inner
        self.defect = defect
    }

    var nodeID: NodeID { inner.nodeID }
    var capabilities: QueueCapabilities { inner.capabilities }

    func publish(_ queue: String, _ body: [UInt8], options: QueuePublishOptions) async throws -> QueueMessageID {
        try await inner.publish(queue, body, options: options)
    }

    func receive(_ queue: String, wait: Duration, visibilityTimeout: Duration) async throws -> QueueDelivery? {
        try await inner.receive(queue, wait: wait, visibilityTimeout: visibilityTimeout)
    }

    func extendVisibility(_ delivery: QueueDelivery, by duration: Duration) async throws -> Bool {
        if case .extendDoesNothing = defect { return true }
        return try await inner.extendVisibility(delivery, by: duration)
    }

    func acknowledge(_ delivery: QueueDelivery) async throws {
        if case .acknowledgeDoesNothing = defect { return }
        try await inner.acknowledge(delivery)
    }

    func reject(_ delivery: QueueDelivery, reason: String) async throws {
        if case .rejectDropsMessage = defect {
            try await inner.acknowledge(delivery)
            return
        }
        try await inner.reject(delivery, reason: reason)
    }

    func consume(_ queue: String, options: QueueConsumerOptions, handler: @escaping QueueHandler) async throws -> QueueConsumer {
        try QueueNameRules.validate(queue)
        var options = options
        switch defect {
        case .ignoresGate: options.gate = nil
        case .unboundedConcurrency: options.concurrency = 1_000
        default: break
        }
        let consumer = PullConsumer(queue: queue, source: self, options: options, clock: ContinuousClock(),
                                    idlePullWait: .milliseconds(200), handler: handler)
        consumers.withLock { $0.append(consumer) }
        return consumer
    }

    func counts(_ queue: String) async throws -> QueueCounts { try await inner.counts(queue) }

    func deadLetters(_ queue: String, limit: Int) async throws -> [QueueDeadLetter] {
        try await inner.deadLetters(queue, limit: limit)
    }

    func redrive(_ queue: String, ids: [QueueMessageID]?) async throws -> Int { try await inner.redrive(queue, ids: ids) }

    func purge(_ queue: String) async throws -> Int { try await inner.purge(queue) }

    func close(drainTimeout: Duration) async {
        let running = consumers.withLock { consumers in
            defer { consumers.removeAll() }
            return consumers
        }
        for consumer in running { await consumer.stop(drainTimeout: drainTimeout) }
        await inner.close(drainTimeout: drainTimeout)
    }
}
