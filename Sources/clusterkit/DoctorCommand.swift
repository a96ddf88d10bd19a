import ArgumentParser
import ClusterKit
import Foundation

/// `clusterkit doctor`: one row per primitive — adapter, redacted URL, and whether the
/// backend answers. Exit 0 only when every primitive is usable.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that every configured adapter exists, is well configured and reachable."
    )

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    @Option(name: .long, help: "Seconds to wait for each backend.")
    var timeout: Double = 5

    func validate() throws {
        guard timeout.isFinite, timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be in (0, 600] seconds") }
    }

    struct Row: Codable {
        var primitive: String
        var adapter: String
        var url: String?
        var ok: Bool
        var status: String
    }

    func run() async throws {
        let configuration = await CommandEnvironment.prepare(defaultLogLevel: .error)
        let registry = CommandEnvironment.registry
        var rows: [Row] = []
        for primitive in Primitive.allCases {
            rows.append(await check(primitive, configuration: configuration, registry: registry))
        }
        let healthy = rows.allSatisfy(\.ok)
        if json {
            struct Output: Codable { var ok: Bool; var appName: String; var rows: [Row] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(Output(ok: healthy, appName: configuration.appName, rows: rows))
            print(Redaction.redactingURLPasswords(in: String(decoding: data, as: UTF8.self)))
        } else {
            print(Self.table(rows, appName: configuration.appName))
        }
        for row in rows where !row.ok {
            CommandEnvironment.printError("error: \(row.primitive): \(row.status)")
        }
        if !healthy { throw ExitCode(1) }
    }

    private func check(_ primitive: Primitive, configuration: ClusterConfiguration, registry: AdapterRegistry) async -> Row {
        let resolved: ResolvedAdapter
        do {
            resolved = try configuration.resolve(primitive, in: registry)
        } catch {
            return Row(primitive: primitive.rawValue, adapter: configuration.adapterNames[primitive] ?? "?", url: nil, ok: false,
                       status: "configuration error: \(error.message)")
        }
        var row = Row(primitive: primitive.rawValue, adapter: resolved.name, url: resolved.url?.description, ok: false, status: "")
        let context = AdapterContext(primitive: primitive, adapterName: resolved.name, nodeID: NodeID("doctor-\(getpid())"),
                                     configuration: configuration, url: resolved.url, memory: MemoryBackend(),
                                     logger: .init(label: "clusterkit.doctor"))
        let outcome = await withDeadline(seconds: timeout) {
            let adapter: any ClusterAdapter = switch primitive {
            case .cache: try await registry.makeCache(context)
            case .pubsub: try await registry.makePubSub(context)
            case .queue: try await registry.makeQueue(context)
            case .lock: try await registry.makeLock(context)
            case .workerID: try await registry.makeWorkerIDAllocator(context)
            }
            defer { Task { await adapter.close() } }
            try await adapter.checkHealth()
        }
        switch outcome {
        case .success:
            row.ok = true
            let variables = resolved.registration.urlName.map {
                ClusterSettings.urlVariables(for: primitive, urlName: $0).joined(separator: " or ")
            }
            row.status = resolved.usesDefaultURL ? "ok (default URL; set \(variables ?? "its URL variable"))" : "ok"
        case .failure(let error):
            row.status = Redaction.redactingURLPasswords(in: String(describing: error))
        case .timedOut:
            row.status = "no answer within \(timeout) s"
        }
        return row
    }

    static func table(_ rows: [Row], appName: String) -> String {
        let header = ["PRIMITIVE", "ADAPTER", "URL", "STATUS"]
        let cells = rows.map { [$0.primitive, $0.adapter, $0.url ?? "-", $0.status] }
        let widths = (0..<3).map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        func line(_ values: [String]) -> String {
            (0..<3).map { values[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                + "  " + values[3]
        }
        return (["\(ClusterSettings.appName.name)=\(appName)", line(header)] + cells.map(line)).joined(separator: "\n")
    }
}

enum DeadlineOutcome {
    case success
    case failure(any Error)
    case timedOut
}

/// Runs `work`, giving up (and cancelling it) after `seconds`: an unreachable backend must
/// not hang the doctor even if its client ignores cancellation.
func withDeadline(seconds: Double, _ work: @escaping @Sendable () async throws -> Void) async -> DeadlineOutcome {
    await withCheckedContinuation { (continuation: CheckedContinuation<DeadlineOutcome, Never>) in
        let gate = OnceGate(continuation)
        let worker = Task {
            do {
                try await work()
                gate.resume(.success)
            } catch {
                gate.resume(.failure(error))
            }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            worker.cancel()
            gate.resume(.timedOut)
        }
    }
}

import Synchronization

/// Resumes a continuation once; later calls are ignored.
final class OnceGate: Sendable {
    private let continuation: Mutex<CheckedContinuation<DeadlineOutcome, Never>?>
    init(_ continuation: CheckedContinuation<DeadlineOutcome, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ outcome: DeadlineOutcome) {
        let taken = continuation.withLock { value -> CheckedContinuation<DeadlineOutcome, Never>? in
            defer { value = nil }
            return value
        }
        taken?.resume(returning: outcome)
    }
}
