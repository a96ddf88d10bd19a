import ClusterKit

extension HotPath {
    /// `pubsub-dispatch-batch`: per delivered message, the hand-over from a transport to a
    /// subscriber as the Redis pub/sub reader does it — one `XREAD`'s worth of envelopes (100,
    /// 64-byte payloads) through ``PubSubLocalDispatcher/dispatch(contentsOf:)`` into one
    /// subscription, then read by the subscriber's iterator. In one task, so the reader
    /// never waits and the count does not depend on scheduling (the wake-up of a waiting
    /// reader is in `redis-pubsub-fanout`).
    static let pubsubDispatchBatch = HotPath(name: "pubsub-dispatch-batch") { iterations in
        let batch = 100
        let dispatcher = PubSubLocalDispatcher(nodeID: NodeID("subscriber"), clock: ContinuousClock())
        let subscription = try dispatcher.subscribe("bench", options: PubSubSubscribeOptions(bufferSize: 10_000))
        let envelopes = (0..<batch).map { _ in
            PubSubEnvelope(channel: "bench", payload: [UInt8](repeating: 0x78, count: 64), publisherID: NodeID("publisher"))
        }
        var iterator = subscription.makeAsyncIterator()
        var bytes = 0
        for _ in 0..<iterations / batch {
            guard dispatcher.dispatch(contentsOf: envelopes) == batch else { throw HotPathFailure("a batch was not taken") }
            for _ in 0..<batch {
                guard let message = await iterator.next() else { throw HotPathFailure("the subscription ended") }
                bytes += message.payload.count
            }
        }
        subscription.cancel()
        return bytes
    }
}
