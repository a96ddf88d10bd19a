import Foundation

/// Number formatting shared by the table and the targets.
enum BenchFormat {
    /// Figures ≥ 100 without decimals (with thousands separators), smaller ones with a
    /// few decimals.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if abs(value) >= 100 {
            let formatter = NumberFormatter()
            formatter.numberStyle = .decimal
            formatter.maximumFractionDigits = 0
            formatter.groupingSeparator = ","
            formatter.usesGroupingSeparator = true
            return formatter.string(from: NSNumber(value: value.rounded())) ?? String(format: "%.0f", value)
        }
        // Up to two decimals below 10 (one from 10), trailing zeros dropped: 0.8, 1.33, 12.5.
        var text = String(format: abs(value) >= 10 ? "%.1f" : "%.2f", value)
        while text.contains("."), text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
