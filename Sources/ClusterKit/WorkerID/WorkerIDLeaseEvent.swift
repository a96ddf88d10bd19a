/// What happened to a ``WorkerIDLease``; each carries the worker ID concerned.
public enum WorkerIDLeaseEvent: Sendable, Hashable {
    /// A lease on this ID is now held (by ``WorkerIDLease/acquire()`` or by
    /// ``WorkerIDLease/maintain()`` after a loss).
    case acquired(Int)
    /// The lease on this ID is lost: renewal found it expired or taken, or it could not be
    /// renewed in time. The ID must no longer be used; snowflake generators over the lease
    /// already refuse to issue.
    case lost(Int)
    /// The lease on this ID was given up by ``WorkerIDLease/release()``.
    case released(Int)
}
