@testable import ClusterKitRabbitMQ
import Testing

/// rabbitmq-c polls for the whole milliseconds left before its deadline (truncated): a wait
/// shorter than that must be stretched, or it polls with timeout 0 and the publisher's pump
/// spins instead of sleeping.
@Suite("RabbitMQ frame wait timeouts")
struct AMQPWaitTimeoutTests {
    @Test func zeroStaysZero() {
        #expect(AMQPConnection.pollableTimeout(.zero) == .zero)
        #expect(AMQPConnection.pollableTimeout(.milliseconds(-3)) == .zero)
    }

    @Test(arguments: [
        (Duration.microseconds(1), Duration.milliseconds(1)),
        (.milliseconds(1), .milliseconds(1)),
        (.microseconds(1_500), .milliseconds(2)),
        (.milliseconds(2), .milliseconds(2)),
        (.seconds(3), .seconds(3)),
    ])
    func shortWaitsBecomeWholeMillisecondsOfPolling(requested: Duration, polled: Duration) {
        let timeout = AMQPConnection.pollableTimeout(requested)
        // rabbitmq-c's first poll lasts (timeout - elapsed) / 1 ms, truncated: `polled` for
        // any elapsed time below 1 ms, never less than requested, never 0.
        #expect(timeout >= requested)
        #expect(timeout > polled && timeout < polled + .milliseconds(1))
    }
}
