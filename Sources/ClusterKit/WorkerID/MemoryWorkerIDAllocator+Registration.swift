extension AdapterRegistry {
    /// Registers ``MemoryWorkerIDAllocator`` as the `memory` worker-ID adapter: nodes built
    /// from one ``MemoryBackend`` and app name share one pool of IDs, sized by
    /// `WORKER_ID_MAX`, with leases of `WORKER_ID_LEASE_TTL_MS`.
    public mutating func registerMemoryWorkerID() {
        registerWorkerID(Registration(name: "memory", isNetworked: false)) { context in
            MemoryWorkerIDAllocator<ContinuousClock>(context: context)
        }
    }
}
