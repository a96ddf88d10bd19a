import ClusterKit
import Testing

/// The values lean queue messages leave out are part of the wire format (docs/wire-format.md).
@Suite("Queue wire defaults")
struct QueueWireDefaultsTests {
    /// The literal values messages already queued depend on: changing one silently changes
    /// what those messages mean, so this test must be changed with the format's docs.
    @Test func theWireDefaultsAreFixedValues() {
        #expect(QueueWireDefaults.attempt == 1)
        #expect(QueueWireDefaults.maxAttempts == 3)
        #expect(QueueWireDefaults.timeout == .seconds(15))
        #expect(QueueWireDefaults.backoff == Backoff(initial: .milliseconds(100), multiplier: 2, maximum: .seconds(30), jitter: 0.5))
    }

    /// While they agree, a message published with default options writes no optional field.
    /// If `QueuePublishOptions`'s defaults change, this fails: decide then whether such
    /// messages may grow (the wire defaults stay as they are).
    @Test func todaysPublishDefaultsAreTheWireDefaults() {
        let options = QueuePublishOptions()
        #expect(options.maxAttempts == QueueWireDefaults.maxAttempts)
        #expect(options.timeout == QueueWireDefaults.timeout)
        #expect(options.backoff == QueueWireDefaults.backoff)
    }
}
