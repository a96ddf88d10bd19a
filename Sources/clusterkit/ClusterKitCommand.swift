import ArgumentParser

@main
struct ClusterKitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusterkit",
        abstract: "Cluster primitives for Swift servers: demo, health check, conformance suites and benchmarks.",
        discussion: """
            Adapters are chosen by environment variables (and a .env file in the working directory):
            CACHE_DEFAULT_STORE, PUBSUB_ADAPTER, QUEUE_ADAPTER, LOCK_ADAPTER_DEFAULT, WORKER_ID_ADAPTER,
            with URLs from their own variables or REDIS_URL / RABBITMQ_URL. See `clusterkit settings`.
            """,
        subcommands: [DemoCommand.self, DoctorCommand.self, ConformanceCommand.self, SettingsCommand.self, BenchCommand.self, DemoNodeCommand.self, QueueWorkerCommand.self, BenchRabbitMQCommand.self]
    )
}
