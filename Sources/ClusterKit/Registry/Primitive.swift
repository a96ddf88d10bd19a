/// The five primitives ClusterKit provides.
public enum Primitive: String, CaseIterable, Sendable, Hashable, Codable, CustomStringConvertible {
    case cache
    case pubsub
    case queue
    case lock
    case workerID = "workerid"

    public var description: String { rawValue }

    /// The segment of keys/streams/queues of this primitive: `APP_NAME:<role>:…`.
    public var keyRole: String {
        switch self {
        case .cache: "cache"
        case .pubsub: "pubsub"
        case .queue: "queue"
        case .lock: "lock"
        case .workerID: "workerid"
        }
    }
}
