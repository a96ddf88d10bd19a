import ClusterKit
import Logging
import ServiceLifecycle

/// Drops this instance's local copy of an item whenever another instance signals that it
/// changed (``ItemService/channel``).
///
/// It subscribes when the service group starts it and reports itself ready only then, so
/// `GET /health` does not answer 200 before signals can arrive. On graceful shutdown it
/// cancels the subscription, which ends the loop.
struct InvalidationListener: Service {
    let cluster: Cluster
    let local: LocalItemCache
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let subscription = try await cluster.pubsub.subscribe(ItemService.channel)
        readiness.markReady(.invalidationListener)
        await withGracefulShutdownHandler {
            for await message in subscription {
                local.invalidate(message.text)
                logger.debug("dropped local copy", metadata: ["item": "\(message.text)", "from": "\(message.publisherID)"])
            }
        } onGracefulShutdown: {
            subscription.cancel()
        }
    }
}
