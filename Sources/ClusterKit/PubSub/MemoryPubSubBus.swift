import Synchronization

/// The in-process message bus shared by every ``MemoryPubSub`` node of one
/// ``MemoryBackend``: the stand-in for the Redis server.
///
/// Nodes join under their app name and receive every envelope published in that app (and
/// none from other apps). Publishing fans out synchronously, under one lock: when
/// ``publish(_:appName:)`` returns, every node's dispatcher has taken the envelope, and all
/// nodes see concurrent publishes in the same order (like entries of one Redis stream).
final class MemoryPubSubBus: Sendable {
    /// The key of the bus in a ``MemoryBackend``.
    static let componentKey = "pubsub.memory.bus"

    private struct State {
        var nextID: UInt64 = 0
        var members: [String: [UInt64: @Sendable (PubSubEnvelope) -> Void]] = [:]
    }

    private let state = Mutex(State())

    /// The bus of `backend`, created on first use.
    static func shared(in backend: MemoryBackend) -> MemoryPubSubBus {
        backend.component(componentKey) { MemoryPubSubBus() }
    }

    /// Adds a receiver for `appName`; returns the ID to ``leave(_:appName:)`` with.
    /// `receive` is called under the bus lock: it must not block or publish.
    func join(appName: String, receive: @escaping @Sendable (PubSubEnvelope) -> Void) -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            state.members[appName, default: [:]][state.nextID] = receive
            return state.nextID
        }
    }

    /// Removes a receiver; it gets nothing published after this returns.
    func leave(_ id: UInt64, appName: String) {
        state.withLock { state in
            state.members[appName]?[id] = nil
            if state.members[appName]?.isEmpty == true { state.members[appName] = nil }
        }
    }

    /// Hands `envelope` to every receiver of `appName`.
    func publish(_ envelope: PubSubEnvelope, appName: String) {
        state.withLock { state in
            for receive in (state.members[appName] ?? [:]).values { receive(envelope) }
        }
    }

    /// The number of nodes joined under `appName`.
    func memberCount(appName: String) -> Int {
        state.withLock { $0.members[appName]?.count ?? 0 }
    }
}
