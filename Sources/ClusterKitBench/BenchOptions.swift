/// How `clusterkit bench` runs.
public struct BenchOptions: Sendable {
    public var selection: BenchSelection
    /// Seconds per measurement (each of ours and the reference's, per repetition).
    public var duration: Double
    /// Repetitions after the warm-up; each row reports the median.
    public var repetitions: Int
    /// A Redis server to use; `nil` starts a private one (`RedisServer`) for the run.
    public var redisURL: String?
    /// A RabbitMQ broker to use; `nil` starts a private one (`RabbitMQBroker`) for the run.
    public var rabbitMQURL: String?
    /// Progress lines (to stderr in the CLI). Never given a password.
    public var progress: @Sendable (String) -> Void

    public init(selection: BenchSelection = .init(), duration: Double = 2, repetitions: Int = 3,
                redisURL: String? = nil, rabbitMQURL: String? = nil, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.selection = selection
        self.duration = duration
        self.repetitions = repetitions
        self.redisURL = redisURL
        self.rabbitMQURL = rabbitMQURL
        self.progress = progress
    }
}
