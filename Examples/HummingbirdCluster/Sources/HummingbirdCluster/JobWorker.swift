import ClusterKit
import Logging
import ServiceLifecycle

/// Consumes the ``Job/queue`` queue on this instance for as long as the service group runs.
///
/// The cluster's queue is at-least-once: a message leaves the queue only after the handler
/// returned, and goes to another consumer if this one dies. The handler "works" for
/// ``workTime`` (standing in for sending an e-mail, resizing an image…) and records the job
/// in ``ProcessedJobs``.
///
/// On graceful shutdown it stops pulling and gives running handlers ``drainTimeout`` to
/// finish; messages of handlers still running then stay unacknowledged and are redelivered
/// elsewhere.
struct JobWorker: Service {
    let cluster: Cluster
    let processed: ProcessedJobs
    let readiness: Readiness
    let logger: Logger
    var concurrency = 4
    var workTime: Duration = .milliseconds(5)
    var drainTimeout: Duration = .seconds(10)

    func run() async throws {
        let processed = self.processed
        let logger = self.logger
        let workTime = self.workTime
        let consumer = try await cluster.queue.consume(Job.queue, options: .init(concurrency: concurrency)) { message in
            let job = try Job.decode(message.body)
            try await Task.sleep(for: workTime)
            processed.record(job.id)
            logger.debug("processed job", metadata: ["job": "\(job.id)", "attempt": "\(message.attempt)"])
        }
        readiness.markReady(.jobWorker)
        try? await gracefulShutdown()
        await consumer.stop(drainTimeout: drainTimeout)
    }
}
