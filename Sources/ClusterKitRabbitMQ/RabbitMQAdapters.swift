import ClusterKit

extension AdapterRegistry {
    /// Registers the `rabbitmq` queue adapter (``RabbitMQMessageQueue``), durable.
    public mutating func registerRabbitMQAdapters() {
        registerQueue(Registration(name: "rabbitmq", urlName: "rabbitmq", defaultURL: AMQPURL.defaultText, isNetworked: true,
                                   capabilities: ["durable"])) { context in
            try await RabbitMQMessageQueue(context: context)
        }
    }
}
