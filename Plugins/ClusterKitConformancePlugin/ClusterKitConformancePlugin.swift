import PackagePlugin

/// `swift package --allow-network-connections all clusterkit-conformance [--primitive P]
/// [--url URL]… [--case NAME]… [--json]`: builds `clusterkit` and runs
/// `clusterkit conformance` with the caller's environment and the package directory's `.env`
/// (SwiftPM's test API cannot pass environment variables to tests, so the plugin runs the
/// executable itself). Every argument goes to `clusterkit conformance`: `--url redis://…`
/// selects the Redis adapters and points them at that server, `--url amqp://…` the RabbitMQ
/// queue. The output ends with `N passed, N failed`; the command fails when a case failed.
@main
struct ClusterKitConformancePlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        try await ClusterKitExecutable.run(["conformance"] + arguments, context: context, packageManager: packageManager)
    }
}
