/// The values a queue message's fields have when a stored or sent message leaves them out.
///
/// Both backends write messages lean: a field equal to its value here is not written, and a
/// reader takes an absent field to mean this value (the Redis adapter's stream entries, the
/// RabbitMQ adapter's `x-ck-*` headers; see `docs/wire-format.md`). Messages outlive a
/// release — they wait in Redis and RabbitMQ while nodes are upgraded one by one — so these
/// are part of the wire format and fixed here. They are *not* read from
/// ``QueuePublishOptions``'s defaults: changing a default there must not change what the
/// messages already queued mean. (Today both agree, so a message published with default
/// options carries none of these fields; a test pins that.)
package enum QueueWireDefaults {
    /// A message's first attempt.
    package static let attempt = 1
    package static let maxAttempts = 3
    package static let timeout = Duration.seconds(15)
    package static let backoff = Backoff(initial: .milliseconds(100), multiplier: 2, maximum: .seconds(30), jitter: 0.5)
}
