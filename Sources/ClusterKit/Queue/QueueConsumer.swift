/// A running consumer. Stop it with ``stop(drainTimeout:)``; pause pulling with ``pause()``.
///
/// ``stop(drainTimeout:)`` is required: a consumer runs until it is stopped (or its queue
/// node is closed, which stops it). Its own tasks (the loop that takes messages, its
/// handler workers) keep it alive, so dropping the last reference to it stops nothing: it
/// goes on taking messages and holding its workers.
public protocol QueueConsumer: Sendable {
    /// The queue consumed.
    var queue: String { get }
    /// Handlers running right now.
    var inFlight: Int { get async }
    /// Stops taking messages until ``resume()``; running handlers go on.
    func pause() async
    /// Takes messages again after ``pause()``.
    func resume() async
    /// Stops pulling, waits up to `drainTimeout` for running handlers (acknowledging or
    /// rejecting as usual), then cancels the rest and leaves their messages for
    /// redelivery. Returns when the consumer has stopped. Idempotent.
    func stop(drainTimeout: Duration) async
}
