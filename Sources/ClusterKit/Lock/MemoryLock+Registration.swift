extension AdapterRegistry {
    /// Registers ``MemoryLock`` as the lock adapter `memory`, also selectable as `local`.
    /// Nodes built from one ``MemoryBackend`` contend for the same locks.
    public mutating func registerMemoryLock() {
        registerLock(Registration(name: "memory", aliases: ["local"], isNetworked: false)) { context in
            MemoryLock(context: context)
        }
    }
}
