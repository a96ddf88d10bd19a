/// The metrics ClusterKit emits (swift-metrics labels) and their dimensions.
///
/// Every metric has the dimensions `primitive` (`cache`, `pubsub`, `queue`, `lock`,
/// `workerid`) and `adapter` (`memory`, `redis`, `rabbitmq`, …). Cache, pub/sub and queue
/// metrics add `name` (the cache name, channel or queue); lock keys are left out on purpose
/// (they are often per-entity and would explode the series count). Error counters add
/// `operation` (`get`, `publish`, …). Timers record nanoseconds.
public enum ClusterMetricNames {
    // Cache (name = cache name)
    /// `get`/`getMany` lookups that found a value (one per key).
    public static let cacheHits = "clusterkit_cache_hits"
    /// `get`/`getMany` lookups that found nothing (one per key).
    public static let cacheMisses = "clusterkit_cache_misses"
    /// Cache operations that threw (dimension `operation`).
    public static let cacheErrors = "clusterkit_cache_errors"

    // Pub/sub (name = channel)
    /// Messages whose publish returned.
    public static let pubsubPublished = "clusterkit_pubsub_published"
    /// Messages handed to a subscription on this node.
    public static let pubsubDelivered = "clusterkit_pubsub_delivered"
    /// Messages a full subscription buffer discarded (a slow reader).
    public static let pubsubDropped = "clusterkit_pubsub_dropped"
    /// Pub/sub operations that threw (dimension `operation`).
    public static let pubsubErrors = "clusterkit_pubsub_errors"

    // Queue (name = queue)
    /// Messages whose publish returned.
    public static let queuePublished = "clusterkit_queue_published"
    /// Attempts that succeeded: a handler returned within its timeout, or `acknowledge`.
    public static let queueProcessed = "clusterkit_queue_processed"
    /// Attempts that failed: a handler threw or overran its timeout, or `reject`.
    public static let queueFailed = "clusterkit_queue_failed"
    /// Failed attempts with attempts left (the message is retried).
    public static let queueRetried = "clusterkit_queue_retried"
    /// Failed attempts that used the message's last attempt (it moves to the dead letters).
    public static let queueDeadLettered = "clusterkit_queue_dead_lettered"
    /// How long handlers ran, successful or not (timer).
    public static let queueHandlerDuration = "clusterkit_queue_handler_duration"
    /// Queue operations that threw (dimension `operation`); handler errors are `failed`.
    public static let queueErrors = "clusterkit_queue_errors"

    // Lock (no name)
    /// How long acquiring took, waiting included (timer; successful acquisitions only).
    public static let lockAcquireWait = "clusterkit_lock_acquire_wait"
    /// Acquisitions that found the lock held (`tryAcquire` returning `nil`, or `acquire`
    /// having to wait).
    public static let lockContended = "clusterkit_lock_contended"
    /// `acquire` calls that gave up after their timeout.
    public static let lockTimeouts = "clusterkit_lock_timeouts"
    /// Extensions refused because the lease was gone (the `withLock` watchdog's "lease lost").
    public static let lockLeasesLost = "clusterkit_lock_leases_lost"
    /// Lock operations that threw (dimension `operation`), timeouts included.
    public static let lockErrors = "clusterkit_lock_errors"

    // Worker ID (no name)
    /// Successful renewals of this node's worker-ID lease.
    public static let workerIDRenewals = "clusterkit_workerid_renewals"
    /// Worker-ID leases lost (renewal refused, or not renewed within the lease's validity).
    public static let workerIDLosses = "clusterkit_workerid_losses"
    /// Worker-ID allocator operations that threw (dimension `operation`).
    public static let workerIDErrors = "clusterkit_workerid_errors"

    // Connections (primitive = the primitive the connection serves)
    /// Backend connections re-established after a loss (not the first connect).
    public static let connectionReconnects = "clusterkit_connection_reconnects"

    /// The dimension keys.
    public enum Dimension {
        public static let primitive = "primitive"
        public static let adapter = "adapter"
        public static let name = "name"
        public static let operation = "operation"
    }
}
