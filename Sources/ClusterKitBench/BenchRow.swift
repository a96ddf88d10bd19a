/// What a row measures, before it runs.
struct BenchRowSpec: Sendable {
    /// Stable row name, e.g. `redis cache get, 1 task` (tests and docs rely on it).
    var name: String
    var unit: String
    /// How the reference figure is produced (e.g. `redis-benchmark -c 1 -t get`); `nil`
    /// for rows without a reference.
    var reference: String?
    var target: BenchTarget?
    /// How our figure is produced, when the name alone does not say.
    var note: String?
}

/// One row of the result: medians of the repetitions, the ratio of the medians, the target
/// and whether it was met.
public struct BenchRow: Sendable, Encodable {
    public var name: String
    public var unit: String
    /// Median of our samples.
    public var ours: Double
    /// Median of the reference samples; `nil` for rows without a reference or when the
    /// reference tool is missing.
    public var reference: Double?
    /// `ours / reference`; `nil` without a reference.
    public var ratio: Double?
    /// e.g. `≥ 0.9×`, `≥ 50,000 /s`, `≤ 5 ms`; `nil` for rows without a target.
    public var target: String?
    /// `nil` when there is no target or the figure it needs is missing.
    public var met: Bool?
    public var referenceCommand: String?
    public var note: String?
    public var oursSamples: [Double]
    public var referenceSamples: [Double]

    /// `referenceSamples` is empty for rows without a reference and when the reference tool is missing.
    init(spec: BenchRowSpec, oursSamples: [Double], referenceSamples: [Double]) {
        name = spec.name
        unit = spec.unit
        self.oursSamples = oursSamples
        self.referenceSamples = referenceSamples
        ours = BenchStatistics.median(oursSamples)
        let reference = referenceSamples.isEmpty ? nil : BenchStatistics.median(referenceSamples)
        self.reference = reference
        ratio = reference.flatMap { $0 > 0 ? ours / $0 : nil }
        target = spec.target?.description
        met = spec.target?.isMet(ours: ours, ratio: ratio)
        referenceCommand = spec.reference
        note = spec.note
    }

    enum CodingKeys: String, CodingKey {
        case name, unit, ours, reference, ratio, target, met, referenceCommand, note, oursSamples, referenceSamples
    }

    /// Encodes `nil` as JSON `null` (not an absent key), so every row has every field.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(unit, forKey: .unit)
        try container.encode(ours, forKey: .ours)
        try container.encode(reference, forKey: .reference)
        try container.encode(ratio, forKey: .ratio)
        try container.encode(target, forKey: .target)
        try container.encode(met, forKey: .met)
        try container.encode(referenceCommand, forKey: .referenceCommand)
        try container.encode(note, forKey: .note)
        try container.encode(oursSamples, forKey: .oursSamples)
        try container.encode(referenceSamples, forKey: .referenceSamples)
    }
}
