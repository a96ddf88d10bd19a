import ClusterKit

/// The Redis keys of one queue, all under `APP_NAME:queue:<name>`.
struct RedisQueueKeys: Sendable {
    /// The stream of visible and in-flight entries; its consumer group ``group`` hands them out.
    let stream: String
    /// Sorted set of message IDs not yet due (delayed publishes and retries), score = due time
    /// in ms (server clock).
    let delayed: String
    /// Hash message ID → the packed fields of a delayed message.
    let delayedData: String
    /// Sorted set of the entry IDs handed out by `receive`, score = claim deadline in ms
    /// (server clock). Consumer deliveries have no lease: their claim is the entry's idle
    /// time, which the consumer resets while it holds the entry.
    let leases: String
    /// The dead-letter stream.
    let dead: String
    /// Counter giving message IDs.
    let sequence: String

    /// The one consumer group per queue.
    static let group = "clusterkit"

    /// The stream key alone (what an undelayed publish needs).
    static func stream(appName: String, queue: String) -> String {
        "\(appName):\(Primitive.queue.keyRole):\(queue)"
    }

    init(appName: String, queue: String) {
        let base = Self.stream(appName: appName, queue: queue)
        stream = base
        delayed = base + ":delayed"
        delayedData = base + ":delayed-data"
        leases = base + ":leases"
        dead = base + ":dead"
        sequence = base + ":seq"
    }
}
