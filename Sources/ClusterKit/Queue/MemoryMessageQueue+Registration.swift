extension AdapterRegistry {
    /// Registers the in-process queue as `memory`: nodes built from one ``MemoryBackend``
    /// with one app name share their queues.
    public mutating func registerMemoryQueue() {
        registerQueue(Registration(name: "memory", isNetworked: false)) { context in
            MemoryMessageQueue(context: context)
        }
    }
}
