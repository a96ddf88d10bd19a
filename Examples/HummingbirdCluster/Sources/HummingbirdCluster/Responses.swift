import Hummingbird

// The JSON bodies of the routes. Snowflake IDs travel as strings: they use up to 63 bits,
// and JSON readers that hold numbers as doubles (JavaScript, jq) would round them.

struct HealthResponse: ResponseEncodable {
    var status: String
    var instance: String
    var workerID: Int?
    /// Background parts not up yet (empty when healthy).
    var pending: [String]
}

struct StatsResponse: ResponseEncodable {
    var instance: String
    var workerID: Int?
    var adapters: [String: String]
    var localCache: LocalItemCache.Stats
    var jobsProcessed: Int
}

struct ItemResponse: ResponseEncodable {
    var item: Item
    /// Which tier served the read: `local`, `shared` or `database` (`written` for a write).
    var source: String
    var instance: String
}

struct ItemUpdate: Decodable {
    var name: String
}

struct JobRequest: Decodable {
    var payload: String
}

struct JobAccepted: ResponseEncodable {
    var id: String
    var instance: String
}

struct ProcessedJobsResponse: ResponseEncodable {
    var instance: String
    /// Handler runs ever recorded on this instance.
    var total: Int
    /// The job IDs of the most recent runs, oldest first; an ID appears once per run.
    var ids: [String]
}

struct QueueCountsResponse: ResponseEncodable {
    var waiting: Int
    var delayed: Int
    var inFlight: Int
    var dead: Int
}

struct CounterResponse: ResponseEncodable {
    var value: Int64
    /// The fencing token of the lock lease the increment ran under (absent for reads).
    var fencingToken: UInt64?
    var instance: String
}

struct IDsResponse: ResponseEncodable {
    var instance: String
    var workerID: Int?
    var ids: [String]
}
