/// The primitive a bench row measures (`--primitive`).
public enum BenchPrimitive: String, CaseIterable, Sendable, Codable {
    case cache, pubsub, queue, lock, workerid
}

/// The backend a bench row measures (`--backend`). Snowflake generation is in-process and
/// counts as `memory`.
public enum BenchBackend: String, CaseIterable, Sendable, Codable {
    case memory, redis, rabbitmq
}

/// Which rows to run: `nil` means every primitive / every backend.
public struct BenchSelection: Sendable, Hashable {
    public var primitive: BenchPrimitive?
    public var backend: BenchBackend?

    public init(primitive: BenchPrimitive? = nil, backend: BenchBackend? = nil) {
        self.primitive = primitive
        self.backend = backend
    }

    func includes(_ primitive: BenchPrimitive, _ backend: BenchBackend) -> Bool {
        (self.primitive ?? primitive) == primitive && (self.backend ?? backend) == backend
    }

    /// Whether any group of this selection needs `backend`'s server.
    func needs(_ backend: BenchBackend) -> Bool {
        BenchGroupKind.allCases.contains { $0.backend == backend && includes($0.primitive, $0.backend) }
    }
}

/// Every group of rows `clusterkit bench` knows, in the order they run and are reported
/// (the order of issue 6's table).
enum BenchGroupKind: CaseIterable, Sendable {
    case redisCache, redisLock, redisPubSub, redisQueue, rabbitMQQueue, memoryCache, snowflake

    var primitive: BenchPrimitive {
        switch self {
        case .memoryCache, .redisCache: .cache
        case .snowflake: .workerid
        case .redisLock: .lock
        case .redisPubSub: .pubsub
        case .redisQueue, .rabbitMQQueue: .queue
        }
    }

    var backend: BenchBackend {
        switch self {
        case .memoryCache, .snowflake: .memory
        case .redisCache, .redisLock, .redisPubSub, .redisQueue: .redis
        case .rabbitMQQueue: .rabbitmq
        }
    }
}
