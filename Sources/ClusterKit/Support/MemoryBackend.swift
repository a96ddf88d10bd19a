import Synchronization

/// The in-process "server" that memory adapters share.
///
/// Every memory adapter created from the same `MemoryBackend` sees the same state, the way
/// several nodes see one Redis: a counter set by one node's cache is read by another's,
/// a signal published on one node reaches subscribers on all, a job published anywhere is
/// consumed once. Two `MemoryBackend` instances are two unrelated clusters.
///
/// Adapters keep their state in components created on first use by ``component(_:create:)``.
public final class MemoryBackend: Sendable {
    private let components = Mutex<[String: any Sendable]>([:])

    public init() {}

    /// The component stored under `key`, created by `create` on first use. Calls for the
    /// same key must always ask for the same type.
    public func component<T: Sendable>(_ key: String, create: () -> T) -> T {
        components.withLock { storage in
            if let existing = storage[key] {
                guard let typed = existing as? T else {
                    preconditionFailure("MemoryBackend component '\(key)' was created as \(type(of: existing)), now requested as \(T.self)")
                }
                return typed
            }
            let created = create()
            storage[key] = created
            return created
        }
    }
}
