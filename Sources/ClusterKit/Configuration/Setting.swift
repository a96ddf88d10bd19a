/// One environment variable ClusterKit reads: declared once, in ``ClusterSettings``; reading,
/// redaction, `clusterkit doctor` and `.env.example` derive from the declaration.
public struct Setting: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Names an adapter.
        case selector
        /// A connection URL (secret: may contain a password).
        case url
        /// A whole number.
        case integer
        /// Free text.
        case text
    }

    public let name: String
    public let kind: Kind
    /// The value used when neither the environment nor `.env` sets it; `nil` = unset.
    public let defaultValue: String?
    /// Whether its value must never be printed (URLs are printed redacted instead).
    public let isSecret: Bool
    /// The primitive it configures, or `nil` for general settings.
    public let primitive: Primitive?
    /// One line of documentation.
    public let summary: String

    public init(_ name: String, kind: Kind, default defaultValue: String?, secret: Bool = false, primitive: Primitive?, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.isSecret = secret || kind == .url
        self.primitive = primitive
        self.summary = summary
    }
}

/// Every variable ClusterKit reads. Compatible with NocoBase's cluster-mode names.
public enum ClusterSettings {
    public static let appName = Setting("APP_NAME", kind: .text, default: "app", primitive: nil,
        "Namespace prefixed to every key, stream, channel and queue ([A-Za-z0-9_-]+).")
    public static let nodeID = Setting("CLUSTERKIT_NODE_ID", kind: .text, default: nil, primitive: nil,
        "Stable unique name of this node (queue consumer name); generated host-pid-random when unset.")
    public static let logLevel = Setting("CLUSTERKIT_LOG_LEVEL", kind: .text, default: "info", primitive: nil,
        "Log level of the clusterkit CLI: trace, debug, info, notice, warning, error, critical.")

    public static let cacheStore = Setting("CACHE_DEFAULT_STORE", kind: .selector, default: "memory", primitive: .cache,
        "Cache adapter: memory, redis.")
    public static let cacheMemoryMax = Setting("CACHE_MEMORY_MAX", kind: .integer, default: "2000", primitive: .cache,
        "Entries the memory cache keeps before evicting the least recently used (> 0).")
    public static let cacheRedisURL = Setting("CACHE_REDIS_URL", kind: .url, default: nil, primitive: .cache,
        "Redis URL of the cache; falls back to REDIS_URL.")

    public static let pubsubAdapter = Setting("PUBSUB_ADAPTER", kind: .selector, default: "memory", primitive: .pubsub,
        "Pub/sub adapter: memory, redis.")
    public static let pubsubRedisURL = Setting("PUBSUB_ADAPTER_REDIS_URL", kind: .url, default: nil, primitive: .pubsub,
        "Redis URL of pub/sub; falls back to REDIS_URL.")

    public static let lockAdapter = Setting("LOCK_ADAPTER_DEFAULT", kind: .selector, default: "memory", primitive: .lock,
        "Lock adapter: memory (alias local), redis.")
    public static let lockRedisURL = Setting("LOCK_ADAPTER_REDIS_URL", kind: .url, default: nil, primitive: .lock,
        "Redis URL of the lock; falls back to REDIS_URL.")

    public static let queueAdapter = Setting("QUEUE_ADAPTER", kind: .selector, default: "memory", primitive: .queue,
        "Message-queue adapter: memory, redis, rabbitmq.")
    public static let queueRedisURL = Setting("QUEUE_ADAPTER_REDIS_URL", kind: .url, default: nil, primitive: .queue,
        "Redis URL of the queue; falls back to REDIS_URL.")
    public static let queueRabbitMQURL = Setting("QUEUE_ADAPTER_RABBITMQ_URL", kind: .url, default: nil, primitive: .queue,
        "AMQP URL of the queue; falls back to RABBITMQ_URL.")

    public static let workerIDAdapter = Setting("WORKER_ID_ADAPTER", kind: .selector, default: "memory", primitive: .workerID,
        "Worker-ID allocator: memory, redis.")
    public static let workerIDRedisURL = Setting("WORKER_ID_REDIS_URL", kind: .url, default: nil, primitive: .workerID,
        "Redis URL of the worker-ID allocator; falls back to REDIS_URL.")
    public static let workerIDMax = Setting("WORKER_ID_MAX", kind: .integer, default: "31", primitive: .workerID,
        "Highest worker ID (IDs are 0...WORKER_ID_MAX; the default snowflake layout holds 0-31).")
    public static let workerIDLeaseTTL = Setting("WORKER_ID_LEASE_TTL_MS", kind: .integer, default: "30000", primitive: .workerID,
        "Worker-ID lease lifetime in milliseconds; renewed every third of it.")

    public static let redisURL = Setting("REDIS_URL", kind: .url, default: nil, primitive: nil,
        "Shared Redis URL for every primitive without its own URL (default redis://localhost:6379/0).")
    public static let rabbitMQURL = Setting("RABBITMQ_URL", kind: .url, default: nil, primitive: nil,
        "Shared AMQP URL (default amqp://guest:guest@localhost:5672/%2f).")

    /// All settings, in documentation order.
    public static let all: [Setting] = [
        appName, nodeID, logLevel, redisURL, rabbitMQURL,
        cacheStore, cacheMemoryMax, cacheRedisURL,
        pubsubAdapter, pubsubRedisURL,
        lockAdapter, lockRedisURL,
        queueAdapter, queueRedisURL, queueRabbitMQURL,
        workerIDAdapter, workerIDRedisURL, workerIDMax, workerIDLeaseTTL,
    ]

    /// The selector variable of a primitive.
    public static func selector(for primitive: Primitive) -> Setting {
        switch primitive {
        case .cache: cacheStore
        case .pubsub: pubsubAdapter
        case .queue: queueAdapter
        case .lock: lockAdapter
        case .workerID: workerIDAdapter
        }
    }

    /// The prefix of a primitive's own URL variables: `<prefix>_<ADAPTER>_URL`.
    public static func urlPrefix(for primitive: Primitive) -> String {
        switch primitive {
        case .cache: "CACHE"
        case .pubsub: "PUBSUB_ADAPTER"
        case .queue: "QUEUE_ADAPTER"
        case .lock: "LOCK_ADAPTER"
        case .workerID: "WORKER_ID"
        }
    }

    /// The URL variables consulted for `primitive` with an adapter whose URL word is
    /// `urlName`, in precedence order: the primitive's own, then the shared fallback.
    public static func urlVariables(for primitive: Primitive, urlName: String) -> [String] {
        let word = urlName.uppercased()
        return ["\(urlPrefix(for: primitive))_\(word)_URL", "\(word)_URL"]
    }
}
