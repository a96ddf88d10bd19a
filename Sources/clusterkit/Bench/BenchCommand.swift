import ArgumentParser
import ClusterKit
import ClusterKitBench
import Foundation

/// `clusterkit bench`: our adapters next to the reference load (redis-benchmark, a raw
/// rabbitmq-c loop, a plain dictionary), same run, same server. See docs/benchmarks.md.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the adapters side by side with redis-benchmark / raw rabbitmq-c (build with -c release).",
        discussion: """
            Without REDIS_URL / RABBITMQ_URL (environment or .env) the bench starts private servers on loopback.
            Progress goes to stderr; stdout gets the table, or with --json exactly one JSON object.
            """
    )

    @Option(help: "cache, pubsub, queue, lock, workerid or all.")
    var primitive = "all"

    @Option(help: "memory, redis or rabbitmq (default: every backend).")
    var backend: String?

    @Option(help: "Seconds per measurement.")
    var duration = 2.0

    @Option(help: "Repetitions after the warm-up; rows report the median.")
    var repetitions = 3

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func validate() throws {
        guard primitive == "all" || BenchPrimitive(rawValue: primitive) != nil else {
            throw ValidationError("--primitive must be one of \((BenchPrimitive.allCases.map(\.rawValue) + ["all"]).joined(separator: ", "))")
        }
        guard backend.map({ BenchBackend(rawValue: $0) != nil }) ?? true else {
            throw ValidationError("--backend must be one of \(BenchBackend.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard duration > 0, repetitions > 0 else { throw ValidationError("--duration and --repetitions must be positive") }
    }

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .error)
        let options = BenchOptions(
            selection: BenchSelection(primitive: BenchPrimitive(rawValue: primitive), backend: backend.flatMap(BenchBackend.init(rawValue:))),
            duration: duration, repetitions: repetitions,
            redisURL: configuration.value(ClusterSettings.redisURL.name),
            rabbitMQURL: configuration.value(ClusterSettings.rabbitMQURL.name),
            progress: { CommandEnvironment.printError("bench: " + $0) })
        let report: BenchReport
        do {
            report = try await BenchRunner.run(options)
        } catch {
            CommandEnvironment.fail("\(error)", status: 1)
        }
        print(try json ? report.json() : report.table())
    }
}
