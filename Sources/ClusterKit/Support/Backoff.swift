import Foundation

/// Exponential backoff with jitter, capped: the delay before retry `n` (1-based) is
/// `min(maximum, initial · multiplier^(n-1))`, then scaled by a random factor in
/// `[1 - jitter, 1]` so that many nodes retrying together spread out ("equal jitter").
public struct Backoff: Sendable, Hashable {
    /// Delay before the first retry.
    public var initial: Duration
    /// Growth factor per retry; 1 gives a fixed delay.
    public var multiplier: Double
    /// Upper bound of any delay, before jitter.
    public var maximum: Duration
    /// Fraction of the delay that is randomised, in `0...1`; 0 disables jitter.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(100), multiplier: Double = 2, maximum: Duration = .seconds(30), jitter: Double = 0.5) {
        self.initial = initial
        self.multiplier = max(1, multiplier)
        self.maximum = maximum
        self.jitter = min(1, max(0, jitter))
    }

    /// The default for message redelivery: 100 ms doubling up to 30 s, half jittered.
    public static let standard = Backoff()

    /// The default for reconnecting to a backend: 50 ms doubling up to 5 s.
    public static let reconnect = Backoff(initial: .milliseconds(50), multiplier: 2, maximum: .seconds(5), jitter: 0.3)

    /// The delay before retry number `retry` (1 = first retry). Values below 1 count as 1.
    public func delay(forRetry retry: Int) -> Duration {
        let exponent = Double(max(0, retry - 1))
        let initialSeconds = initial.seconds
        let cap = maximum.seconds
        let raw = min(cap, initialSeconds * pow(multiplier, exponent))
        let factor = jitter == 0 ? 1 : Double.random(in: (1 - jitter) ... 1)
        return .seconds(raw * factor)
    }
}

extension Duration {
    /// This duration in seconds as a floating-point number.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }

    /// This duration in whole milliseconds, rounded up so that a positive duration never
    /// becomes zero (Redis `PX 0` is an error, and "expires now" must not become "never").
    public var wholeMillisecondsRoundedUp: Int64 {
        let (s, attoseconds) = components
        let ms = s * 1000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return remainder > 0 ? ms + 1 : ms
    }
}
