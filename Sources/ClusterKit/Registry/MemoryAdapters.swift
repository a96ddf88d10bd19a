extension AdapterRegistry {
    /// Registers the in-memory adapters of all five primitives under `memory` (and `local`
    /// for the lock). Nodes built from one ``MemoryBackend`` share state.
    public mutating func registerMemoryAdapters() {
        registerMemoryCache()
        registerMemoryPubSub()
        registerMemoryQueue()
        registerMemoryLock()
        registerMemoryWorkerID()
    }
}
