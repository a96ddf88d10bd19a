import ClusterKit

extension AdapterRegistry {
    /// Registers the `rabbitmq` queue adapter.
    public mutating func registerRabbitMQAdapters() {
    }
}
