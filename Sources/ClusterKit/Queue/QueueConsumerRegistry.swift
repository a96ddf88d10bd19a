import Synchronization

/// The consumers one queue-adapter node has started, for adapters to keep: it refuses new
/// consumers once the node began closing, forgets a consumer when it stops, and on close
/// stops every consumer still running, concurrently, each draining up to the deadline.
public final class QueueConsumerRegistry: Sendable {
    private struct State {
        var closing = false
        var consumers: [UInt64: any QueueConsumer] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Builds a consumer with `make` (handing it the `onStop` callback to call when it
    /// stops) and tracks it. Throws ``QueueError/closed`` once ``stopAll(drainTimeout:)``
    /// began; a consumer built while closing began is stopped at once, so it never outlives
    /// the node.
    public func start<Consumer: QueueConsumer>(
        _ make: (_ onStop: @escaping @Sendable () -> Void) -> Consumer
    ) async throws(QueueError) -> Consumer {
        let id = try state.withLock { state throws(QueueError) -> UInt64 in
            guard !state.closing else { throw .closed }
            state.nextID += 1
            return state.nextID
        }
        let consumer = make { [weak self] in self?.forget(id) }
        let accepted = state.withLock { state -> Bool in
            guard !state.closing else { return false }
            state.consumers[id] = consumer
            return true
        }
        guard accepted else {
            await consumer.stop(drainTimeout: .zero)
            throw .closed
        }
        return consumer
    }

    /// Refuses new consumers, then stops every tracked one concurrently, each draining up to
    /// `drainTimeout`. Returns when all have stopped.
    public func stopAll(drainTimeout: Duration) async {
        let consumers = state.withLock { state in
            state.closing = true
            return Array(state.consumers.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for consumer in consumers {
                group.addTask { await consumer.stop(drainTimeout: drainTimeout) }
            }
        }
        state.withLock { $0.consumers.removeAll() }
    }

    private func forget(_ id: UInt64) {
        state.withLock { _ = $0.consumers.removeValue(forKey: id) }
    }
}
