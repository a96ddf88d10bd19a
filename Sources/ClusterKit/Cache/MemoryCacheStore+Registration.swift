extension AdapterRegistry {
    /// Registers ``MemoryCacheStore`` as the `memory` cache store (`CACHE_DEFAULT_STORE=memory`).
    /// Nodes built from one ``MemoryBackend`` share their entries; `CACHE_MEMORY_MAX` caps
    /// the whole store.
    public mutating func registerMemoryCache() {
        registerCache(Registration(name: "memory", isNetworked: false)) { context in
            MemoryCacheStore(context: context)
        }
    }
}
