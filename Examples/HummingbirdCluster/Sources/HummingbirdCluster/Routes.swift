import ClusterKit
import Hummingbird

/// Everything a route handler needs; one per instance.
struct AppState: Sendable {
    let cluster: Cluster
    let items: ItemService
    let counter: Counter
    let processed: ProcessedJobs
    let readiness: Readiness

    var instance: String { cluster.nodeID.rawValue }

    /// Most IDs one `GET /ids` hands out.
    static let maximumIDsPerRequest = 10_000
}

/// The HTTP API:
///
/// | route | primitive |
/// |---|---|
/// | `GET /health` | 200 once the invalidation listener and the job worker run, else 503 |
/// | `GET /stats` | adapters, worker ID, local-cache counters |
/// | `GET /items/:id` | cache: local → shared → store of record |
/// | `PUT /items/:id` `{"name":…}` | cache + pub/sub: write, invalidate, signal |
/// | `POST /jobs` `{"payload":…}` | queue: publish a job |
/// | `GET /jobs/processed` | jobs this instance ran |
/// | `GET /jobs/counts` | the queue's waiting/delayed/in-flight/dead counts |
/// | `POST /counter/increment` | lock: read-modify-write under the lock |
/// | `GET /counter` | the counter's value |
/// | `GET /ids?count=N` | snowflake IDs under this instance's leased worker ID |
func buildRouter(_ state: AppState) -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ClusterErrorMiddleware())

    router.get("health") { _, _ -> EditedResponse<HealthResponse> in
        let pending = state.readiness.pending.map(\.rawValue)
        let workerID = state.cluster.workerID
        let healthy = pending.isEmpty && workerID != nil
        return EditedResponse(
            status: healthy ? .ok : .serviceUnavailable,
            response: HealthResponse(status: healthy ? "ok" : "starting", instance: state.instance, workerID: workerID, pending: pending))
    }

    router.get("stats") { _, _ in
        var adapters: [String: String] = [:]
        for (primitive, adapter) in state.cluster.adapters {
            adapters[primitive.rawValue] = adapter.name
        }
        return StatsResponse(instance: state.instance, workerID: state.cluster.workerID, adapters: adapters,
                             localCache: state.items.local.stats, jobsProcessed: state.processed.snapshot.total)
    }

    router.get("items/:id") { _, context in
        let id = try itemID(context)
        guard let (item, source) = try await state.items.read(id) else {
            throw HTTPError(.notFound, message: "no item '\(id)'")
        }
        return ItemResponse(item: item, source: source.rawValue, instance: state.instance)
    }

    router.put("items/:id") { request, context in
        let id = try itemID(context)
        let update = try await request.decode(as: ItemUpdate.self, context: context)
        let item = try await state.items.write(id, name: update.name)
        return ItemResponse(item: item, source: "written", instance: state.instance)
    }

    router.post("jobs") { request, context in
        let body = try await request.decode(as: JobRequest.self, context: context)
        let job = Job(id: String(try await state.cluster.ids.next()), payload: body.payload, postedBy: state.instance)
        try await state.cluster.queue.publish(Job.queue, try job.encoded())
        return EditedResponse(status: .accepted, response: JobAccepted(id: job.id, instance: state.instance))
    }

    router.get("jobs/processed") { _, _ in
        let snapshot = state.processed.snapshot
        return ProcessedJobsResponse(instance: state.instance, total: snapshot.total, ids: snapshot.ids)
    }

    router.get("jobs/counts") { _, _ in
        let counts = try await state.cluster.queue.counts(Job.queue)
        return QueueCountsResponse(waiting: counts.waiting, delayed: counts.delayed, inFlight: counts.inFlight, dead: counts.dead)
    }

    router.post("counter/increment") { _, _ in
        let (value, fencingToken) = try await state.counter.increment()
        return CounterResponse(value: value, fencingToken: fencingToken, instance: state.instance)
    }

    router.get("counter") { _, _ in
        CounterResponse(value: try await state.counter.value(), fencingToken: nil, instance: state.instance)
    }

    router.get("ids") { request, _ in
        let count = request.uri.queryParameters.get("count", as: Int.self) ?? 1
        guard (1...AppState.maximumIDsPerRequest).contains(count) else {
            throw HTTPError(.badRequest, message: "count must be 1...\(AppState.maximumIDsPerRequest)")
        }
        var ids: [String] = []
        ids.reserveCapacity(count)
        for _ in 0..<count {
            ids.append(String(try await state.cluster.ids.next()))
        }
        return IDsResponse(instance: state.instance, workerID: state.cluster.workerID, ids: ids)
    }

    return router
}

private func itemID(_ context: BasicRequestContext) throws -> String {
    let id = try context.parameters.require("id")
    guard Item.isValidID(id) else {
        throw HTTPError(.badRequest, message: "item IDs are 1-64 characters from [A-Za-z0-9_-]")
    }
    return id
}
