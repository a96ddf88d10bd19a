/// Rows measured together on shared set-up (one store, one set of nodes, one server).
///
/// Each repetition calls ``measure(duration:)`` once: it runs, for every row, our load and
/// then the reference load, back to back against the same server with the same
/// concurrency and value size (the 1-task Redis cache rows alternate the two in short
/// slices instead, see ``RedisCacheGroup``), and returns one sample per row. The runner's warm-up is one
/// call with a short duration whose samples are dropped.
protocol BenchGroup: AnyObject, Sendable {
    var rows: [BenchRowSpec] { get }
    /// Samples by row name.
    func measure(duration: Double) async throws -> [String: BenchSample]
    func close() async
}

/// One repetition's figures for one row.
struct BenchSample: Sendable {
    var ours: Double
    /// `nil` for rows without a reference, or when the reference tool is missing.
    var reference: Double?
}
