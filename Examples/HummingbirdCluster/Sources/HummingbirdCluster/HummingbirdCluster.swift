import ClusterKit
import ClusterKitRedis
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// One instance of the example app: a Hummingbird server whose routes use ClusterKit's five
/// primitives. Start several against one Redis (see README.md) and they form a cluster.
///
/// Startup: read the settings, build the ``Cluster`` (connects every adapter and leases a
/// worker ID — a bad URL or unreachable Redis fails here, before the port opens), then run
/// one `ServiceGroup`: the cluster (renews the lease), the invalidation listener, the job
/// worker and the HTTP server. SIGTERM or SIGINT shuts them down in reverse order: the
/// server stops taking requests and finishes the running ones, the worker drains its jobs,
/// the listener unsubscribes, and the cluster releases its worker ID and closes its
/// connections.
@main
struct HummingbirdCluster {
    static func main() async {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "hummingbird-cluster")
        do {
            try await run(logger: &logger)
        } catch {
            logger.critical("stopped: \(error)")
            exit(1)
        }
    }

    private static func run(logger: inout Logger) async throws {
        let configuration = try await ClusterConfiguration.fromEnvironment()
        let settings = try ServerSettings(configuration: configuration, arguments: Array(CommandLine.arguments.dropFirst()))
        logger.logLevel = settings.logLevel

        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        let cluster = try await Cluster(configuration: configuration, registry: registry, logger: logger)
        logger[metadataKey: "node"] = "\(cluster.nodeID)"

        let state: AppState
        do {
            state = AppState(cluster: cluster, items: try ItemService(cluster: cluster, local: LocalItemCache()),
                             counter: try Counter(cluster: cluster), processed: ProcessedJobs(), readiness: Readiness())
        } catch {
            await cluster.shutdown()
            throw error
        }

        let serverLogger = logger
        let app = Application(
            router: buildRouter(state),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "HummingbirdCluster"),
            onServerRunning: { channel in
                // The line scripts wait for; with PORT=0 it is the only place the port shows.
                let port = channel.localAddress?.port.map(String.init) ?? "?"
                serverLogger.notice("listening on http://\(settings.host):\(port)", metadata: ["port": "\(port)"])
            },
            logger: logger
        )
        // Graceful shutdown runs in reverse order of this list, so the cluster, which the
        // others use, goes last.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                cluster,
                InvalidationListener(cluster: cluster, local: state.items.local, readiness: state.readiness, logger: logger),
                JobWorker(cluster: cluster, processed: state.processed, readiness: state.readiness, logger: logger),
                app,
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // A client that never finishes its request must not keep the process alive: after
        // this, shutdown escalates to cancellation (the cluster still releases its worker ID).
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.notice("shut down cleanly")
    }
}
