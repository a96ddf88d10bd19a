import ArgumentParser
import ClusterKit

@main
struct ClusterKitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clusterkit",
        abstract: "Cluster primitives for Swift servers: demo, health check, conformance suites and benchmarks.",
        discussion: """
            Adapters are chosen by environment variables (and a .env file in the working directory):
            \(Primitive.allCases.map { ClusterSettings.selector(for: $0).name }.joined(separator: ", ")),
            with URLs from their own variables or \(ClusterSettings.redisURL.name) / \(ClusterSettings.rabbitMQURL.name). \
            See `clusterkit settings`.
            """,
        subcommands: [DemoCommand.self, DoctorCommand.self, ConformanceCommand.self, SettingsCommand.self, BenchCommand.self, DemoNodeCommand.self, QueueWorkerCommand.self]
    )
}
