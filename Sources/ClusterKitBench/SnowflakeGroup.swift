import ClusterKit

/// Snowflake generation from one task with a millisecond layout, and the default layout's
/// cap, which is a property of the layout, not a measurement.
final class SnowflakeGroup: BenchGroup {
    static let millisecondRow = "snowflake generation, 1 task, millisecond layout"
    static let defaultCapRow = "snowflake default second-resolution layout, cap per worker"
    let rows: [BenchRowSpec]
    private let generator: SnowflakeGenerator
    private let defaultCap: Double

    init() throws {
        let layout = try SnowflakeLayout.milliseconds()
        generator = SnowflakeGenerator(layout: layout, workerID: { 1 })
        let nocobase = SnowflakeLayout.nocobase
        defaultCap = Double(nocobase.maximumSequence + 1) / (Double(nocobase.timeUnit.milliseconds) / 1000)
        rows = [
            BenchRowSpec(name: Self.millisecondRow, unit: "IDs/s", reference: nil, target: .ours(atLeast: 5_000_000, "IDs/s"),
                         note: "SnowflakeLayout.milliseconds() (5 worker bits, 16 sequence bits: at most 65,536,000 IDs/s per worker)"),
            BenchRowSpec(name: Self.defaultCapRow, unit: "IDs/s", reference: nil, target: nil,
                         note: "by design, computed from SnowflakeLayout.nocobase (2^16 sequence numbers per second per worker), not measured"),
        ]
    }

    func measure(duration: Double) async throws -> [String: BenchSample] {
        let generator = generator
        let rate = try await BenchClock.rate(tasks: 1, duration: duration, batch: 1024) { _ in
            try await generator.next() > 0 ? 1 : 0
        }
        return [Self.millisecondRow: BenchSample(ours: rate), Self.defaultCapRow: BenchSample(ours: defaultCap)]
    }

    func close() async {}
}
