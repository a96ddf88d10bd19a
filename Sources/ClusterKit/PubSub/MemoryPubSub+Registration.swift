extension AdapterRegistry {
    /// Registers ``MemoryPubSub`` as the `memory` pub/sub adapter: nodes built from one
    /// ``MemoryBackend`` and app name exchange messages in-process.
    public mutating func registerMemoryPubSub() {
        registerPubSub(Registration(name: "memory", isNetworked: false)) { context in
            MemoryPubSub(context: context)
        }
    }
}
