/// A row's target: either on the ratio ours / reference (`≥ 0.9×`) or on our absolute
/// figure (`≥ 50000 /s`, `≤ 5 ms`).
public struct BenchTarget: Sendable, Hashable, CustomStringConvertible {
    public enum Subject: String, Sendable { case ratio, ours }
    public enum Comparison: String, Sendable { case atLeast = "≥", atMost = "≤" }

    public var subject: Subject
    public var comparison: Comparison
    public var value: Double
    /// The unit printed after an absolute target (`/s`, `ms`); ignored for ratios.
    public var unit: String

    public static func ratio(atLeast value: Double) -> BenchTarget {
        BenchTarget(subject: .ratio, comparison: .atLeast, value: value, unit: "×")
    }

    public static func ours(atLeast value: Double, _ unit: String) -> BenchTarget {
        BenchTarget(subject: .ours, comparison: .atLeast, value: value, unit: unit)
    }

    public static func ours(atMost value: Double, _ unit: String) -> BenchTarget {
        BenchTarget(subject: .ours, comparison: .atMost, value: value, unit: unit)
    }

    /// Whether the figures meet the target; `nil` when the figure it needs is missing (a
    /// ratio without a reference, e.g. `redis-benchmark` not installed).
    public func isMet(ours: Double?, ratio: Double?) -> Bool? {
        guard let measured = subject == .ratio ? ratio : ours else { return nil }
        return comparison == .atLeast ? measured >= value : measured <= value
    }

    public var description: String {
        switch subject {
        case .ratio: "\(comparison.rawValue) \(BenchFormat.number(value))×"
        case .ours: "\(comparison.rawValue) \(BenchFormat.number(value)) \(unit)"
        }
    }
}
