import Foundation

/// The result of one `clusterkit bench` run: the rows and what ran.
public struct BenchReport: Sendable, Encodable {
    public var rows: [BenchRow]
    public var context: BenchContext

    /// One JSON object (sorted keys, no trailing newline).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A Markdown table (figure, ours, reference, ratio, target, met?) and the context below it.
    public func table() -> String {
        var lines = ["| figure | ours | reference | ratio | target | met? |", "|---|---|---|---|---|---|"]
        for row in rows {
            let ours = "\(BenchFormat.number(row.ours)) \(row.unit)"
            let reference = row.reference.map { "\(BenchFormat.number($0)) \(row.unit)" } ?? (row.referenceCommand == nil ? "—" : "n/a")
            let ratio = row.ratio.map { String(format: "%.2f×", $0) } ?? "—"
            let met = row.met.map { $0 ? "yes" : "**no**" } ?? "—"
            lines.append("| \(row.name) | \(ours) | \(reference) | \(ratio) | \(row.target ?? "—") | \(met) |")
        }
        lines.append("")
        lines.append("References: " + rows.compactMap { row in row.referenceCommand.map { "\(row.name): `\($0)`" } }.joined(separator: "; "))
        for note in rows.compactMap({ row in row.note.map { "\(row.name): \($0)" } }) { lines.append("- \(note)") }
        lines.append("")
        lines.append(context.summary)
        return lines.joined(separator: "\n")
    }
}

/// What ran: versions, settings, machine.
public struct BenchContext: Sendable, Encodable {
    public var durationSeconds: Double
    public var repetitions: Int
    public var warmUp: String
    public var machineCores: Int
    public var loadAverageBefore: [Double]
    public var loadAverageAfter: [Double]
    public var redisServer: String?
    public var redisServerVersion: String?
    public var redisBenchmark: String?
    public var rabbitMQServer: String?
    public var rabbitMQServerVersion: String?
    public var librabbitmqVersion: String?
    public var hiredisVersion: String?
    public var swiftCompiler: String
    public var buildConfiguration: String
    public var settings: [String: String]
    public var warnings: [String]

    var summary: String {
        var parts = [
            "\(repetitions) repetitions (median), \(BenchFormat.number(durationSeconds)) s per measurement, warm-up: \(warmUp)",
            "machine: \(machineCores) cores, load average \(loadAverageBefore.map { String(format: "%.2f", $0) }.joined(separator: " ")) before, \(loadAverageAfter.map { String(format: "%.2f", $0) }.joined(separator: " ")) after",
            "build: \(buildConfiguration), \(swiftCompiler)",
        ]
        if let redisServer { parts.append("redis: \(redisServer) (\(redisServerVersion ?? "?")), \(redisBenchmark ?? "redis-benchmark missing"), hiredis \(hiredisVersion ?? "?")") }
        if let rabbitMQServer { parts.append("rabbitmq: \(rabbitMQServer) (\(rabbitMQServerVersion ?? "?")), librabbitmq \(librabbitmqVersion ?? "?")") }
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { parts.append("\(key): \(value)") }
        for warning in warnings { parts.append("warning: \(warning)") }
        return parts.map { "- " + $0 }.joined(separator: "\n")
    }
}
