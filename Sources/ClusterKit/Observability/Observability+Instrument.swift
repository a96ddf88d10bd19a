extension Observability {
    /// `store` wrapped in an ``InstrumentedCacheStore``, or unchanged when nothing listens
    /// (``wrapsAdapters``).
    public func instrument(_ store: any CacheStore, adapter: String) -> any CacheStore {
        wrapsAdapters ? InstrumentedCacheStore(store, adapter: adapter, observability: self) : store
    }

    /// `pubsub` wrapped in an ``InstrumentedPubSub``, or unchanged when nothing listens
    /// (``wrapsAdapters``).
    public func instrument(_ pubsub: any PubSub, adapter: String) -> any PubSub {
        wrapsAdapters ? InstrumentedPubSub(pubsub, adapter: adapter, observability: self) : pubsub
    }

    /// `queue` wrapped in an ``InstrumentedMessageQueue``, or unchanged when nothing listens
    /// (``wrapsAdapters``).
    public func instrument(_ queue: any MessageQueue, adapter: String) -> any MessageQueue {
        wrapsAdapters ? InstrumentedMessageQueue(queue, adapter: adapter, observability: self) : queue
    }

    /// `lock` wrapped in an ``InstrumentedDistributedLock``, or unchanged when nothing listens
    /// (``wrapsAdapters``).
    public func instrument(_ lock: any DistributedLock, adapter: String) -> any DistributedLock {
        wrapsAdapters ? InstrumentedDistributedLock(lock, adapter: adapter, observability: self) : lock
    }

    /// `allocator` wrapped in an ``InstrumentedWorkerIDAllocator``, or unchanged when nothing listens
    /// (``wrapsAdapters``).
    public func instrument(_ allocator: any WorkerIDAllocator, adapter: String) -> any WorkerIDAllocator {
        wrapsAdapters ? InstrumentedWorkerIDAllocator(allocator, adapter: adapter, observability: self) : allocator
    }
}
