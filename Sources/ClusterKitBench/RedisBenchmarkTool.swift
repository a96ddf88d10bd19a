import ClusterKit
import Foundation
import Synchronization

/// `redis-benchmark`, the reference for the Redis rows, run against the same server as our
/// client. It takes a request count, not a duration: the first run of each argument set
/// (in the warm-up) measures its rate, and later runs ask for `rate × duration` requests.
final class RedisBenchmarkTool: Sendable {
    let executable: String
    /// `redis-benchmark --version` output, e.g. `redis-benchmark 7.0.15`.
    let version: String
    private let connectionArguments: [String]
    private let rates = Mutex<[[String]: Double]>([:])

    /// Finds `redis-benchmark` on `PATH` (and in `/usr/bin`); `nil` when it is not installed.
    init?(url: RedisURL) async {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        guard let executable = path.map({ "\($0)/redis-benchmark" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        self.executable = executable
        version = ((try? await ChildProcess.output(executable, ["--version"], timeout: 10)) ?? "redis-benchmark (version unknown)")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var arguments = ["-h", url.host, "-p", "\(url.port)", "--dbnum", "\(url.database)"]
        if let username = url.username { arguments += ["--user", username] }
        // Passed to the child only; never printed (the command shown in rows has no password).
        if let password = url.password { arguments += ["-a", password] }
        connectionArguments = arguments
    }

    /// Requests per second of `redis-benchmark -q ARGS -n N`, N from the calibrated rate so
    /// the run lasts about `duration` seconds (at least 1,000 requests).
    func rate(_ arguments: [String], duration: Double) async throws -> Double {
        try await count(arguments, duration: duration).rate
    }

    /// Like ``rate(_:duration:)``, with the request count it asked for and the seconds
    /// they took (requests / rate), so that short runs can be summed.
    func count(_ arguments: [String], duration: Double, minimumRequests: Int = 1_000) async throws -> (requests: Int, seconds: Double, rate: Double) {
        let known = rates.withLock { $0[arguments] }
        let requests = known.map { max(minimumRequests, Int($0 * duration)) } ?? 2_000
        let measured = try await run(arguments + ["-n", "\(requests)"], timeout: 60 + duration * 10)
        rates.withLock { $0[arguments] = measured }
        return (requests, Double(requests) / measured, measured)
    }

    private func run(_ arguments: [String], timeout: Double) async throws -> Double {
        // `-q` before ARGS: after a custom command it would become one of its arguments.
        let output = try await ChildProcess.output(executable, connectionArguments + ["-q"] + arguments, timeout: timeout)
        // Progress lines end in \r; the result looks like "GET: 14084.51 requests per second, p50=…".
        let text = output.replacingOccurrences(of: "\r", with: "\n")
        guard let line = text.split(separator: "\n").last(where: { $0.contains("requests per second") }),
              let colon = line.range(of: ": ", options: .backwards),
              let number = line[colon.upperBound...].split(separator: " ").first.flatMap({ Double($0) }) else {
            throw BenchError("redis-benchmark \(arguments.joined(separator: " ")) printed no rate: \(Redaction.redactingURLPasswords(in: String(text.suffix(200))))")
        }
        return number
    }
}
