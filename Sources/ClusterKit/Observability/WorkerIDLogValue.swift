import Synchronization

/// A logger metadata value (`worker`) that always prints the worker ID the node holds at
/// the moment a message is logged, or `none`: the ID can change (lost, re-acquired) after
/// loggers carrying it were handed to adapters.
final class WorkerIDLogValue: CustomStringConvertible, Sendable {
    private let lease = Mutex<WorkerIDLease?>(nil)

    /// Starts reporting `lease`'s worker ID.
    func attach(_ lease: WorkerIDLease) {
        self.lease.withLock { $0 = lease }
    }

    var description: String {
        guard let id = lease.withLock({ $0 })?.workerID else { return "none" }
        return String(id)
    }
}
