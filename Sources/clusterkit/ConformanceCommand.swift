import ArgumentParser
import ClusterKit
import ClusterKitConformance
import Foundation

/// `clusterkit conformance`: runs the conformance suites against the configured adapters.
/// One line per case; the last line is `N passed, N failed[, N skipped]`; exit 1 on any
/// failure.
struct ConformanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run the conformance suites against the configured adapters."
    )

    @Option(name: .long, help: "Only this primitive: cache, pubsub, queue, lock or workerid.")
    var primitive: Primitive?

    @Option(name: .customLong("case"), help: "Only the cases with these names (repeatable).")
    var cases: [String] = []

    @Flag(name: .long, help: "Print one JSON object on stdout; progress goes to stderr.")
    var json = false

    @Option(name: .long, help: ArgumentHelp(
        "Run against this backend (repeatable): redis://… or amqp://…",
        discussion: "Selects the adapter that uses the URL for every primitive it serves and sets that primitive's URL "
            + "variables to it (they win over the environment and .env). Later URLs win for primitives both serve. "
            + "Prefer REDIS_URL / RABBITMQ_URL in the environment for URLs with passwords: arguments are visible to ps."))
    var url: [String] = []

    @Flag(name: .long, help: "List the case names and exit.")
    var list = false

    func run() async throws {
        let primitives = primitive.map { [$0] } ?? Primitive.allCases
        if list {
            for primitive in primitives {
                for name in ConfiguredConformance.caseNames(for: primitive) { print(name) }
            }
            return
        }
        let known = Set(primitives.flatMap { ConfiguredConformance.caseNames(for: $0) })
        let unknown = cases.filter { !known.contains($0) }
        if !unknown.isEmpty {
            CommandEnvironment.fail("no conformance case named \(unknown.joined(separator: ", ")); "
                + "list them with `clusterkit conformance --list`", status: 2)
        }
        let registry = CommandEnvironment.registry
        let overrides: [String: String]
        do {
            overrides = try BackendURLOverride.variables(for: url, primitives: primitives, registry: registry)
        } catch {
            CommandEnvironment.fail(error.message, status: 2)
        }
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .error, overrides: overrides)
        let runner = ConfiguredConformance(configuration: configuration, registry: registry)
        let json = self.json
        let results: [ConformanceResult]
        do {
            results = try await runner.run(primitives, only: cases.isEmpty ? nil : Set(cases)) { result in
                if json {
                    CommandEnvironment.printError(result.line)
                } else {
                    print(Redaction.redactingURLPasswords(in: result.line))
                    fflush(nil)
                }
            }
        } catch {
            CommandEnvironment.fail(error.message, status: 2)
        }
        if json {
            struct Output: Codable {
                var passed: Int
                var failed: Int
                var skipped: Int
                var results: [ConformanceResult]
            }
            let output = Output(passed: results.count { $0.status == .passed }, failed: results.count { $0.status == .failed },
                                skipped: results.count { $0.status == .skipped }, results: results)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(Redaction.redactingURLPasswords(in: String(decoding: try encoder.encode(output), as: UTF8.self)))
            CommandEnvironment.printError(results.summaryLine)
        } else {
            print(results.summaryLine)
        }
        if results.contains(where: { $0.status == .failed }) { throw ExitCode(1) }
    }
}

extension Primitive: ExpressibleByArgument {}
