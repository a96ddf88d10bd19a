import ClusterKitRedis
import Foundation

/// CPU and command counts at one moment, to attribute the cost of a measured phase to the
/// jobs it did: this process's CPU time and context switches (`getrusage`, every thread),
/// the server's CPU time (`INFO cpu`: `used_cpu_user` + `used_cpu_sys`, the whole
/// redis-server process) and its per-command call counts (`INFO commandstats`).
struct RedisCostSnapshot: Sendable {
    var clientCPU: Double
    var clientSwitches: Int
    var serverCPU: Double
    var commandCalls: [String: Int]

    static func take(_ admin: RedisClient) async throws -> RedisCostSnapshot {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = info(try await admin.send(RedisCommand("INFO", "cpu")))
        let stats = info(try await admin.send(RedisCommand("INFO", "commandstats")))
        var calls: [String: Int] = [:]
        for (key, value) in stats where key.hasPrefix("cmdstat_") {
            // cmdstat_xadd:calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0
            let field = value.split(separator: ",").first { $0.hasPrefix("calls=") }
            calls[String(key.dropFirst("cmdstat_".count))] = field.flatMap { Int($0.dropFirst("calls=".count)) } ?? 0
        }
        return RedisCostSnapshot(
            clientCPU: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            clientSwitches: usage.ru_nvcsw + usage.ru_nivcsw,
            serverCPU: (Double(cpu["used_cpu_user"] ?? "") ?? 0) + (Double(cpu["used_cpu_sys"] ?? "") ?? 0),
            commandCalls: calls)
    }

    /// What happened between `start` and `self`, per job.
    func perJob(since start: RedisCostSnapshot, jobs: Int) -> RedisJobCost {
        let jobs = Double(max(jobs, 1))
        var commands: [String: Double] = [:]
        for (name, calls) in commandCalls {
            let delta = calls - (start.commandCalls[name] ?? 0)
            if delta > 0 { commands[name] = Double(delta) / jobs }
        }
        return RedisJobCost(clientMicroseconds: (clientCPU - start.clientCPU) * 1e6 / jobs,
                            serverMicroseconds: (serverCPU - start.serverCPU) * 1e6 / jobs,
                            clientSwitches: Double(clientSwitches - start.clientSwitches) / jobs,
                            commands: commands)
    }

    private static func seconds(_ value: timeval) -> Double { Double(value.tv_sec) + Double(value.tv_usec) / 1e6 }

    private static func info(_ reply: RedisReply) -> [String: String] {
        let text = String(decoding: (try? reply.bytes()) ?? [], as: UTF8.self)
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }
}

/// The cost of one job in a phase: CPU (client process, redis-server), client context
/// switches, and server commands by name (`INFO commandstats` calls per job; the
/// `INFO` calls of the snapshots themselves included).
struct RedisJobCost: Sendable {
    var clientMicroseconds: Double
    var serverMicroseconds: Double
    var clientSwitches: Double
    var commands: [String: Double]

    var summary: String {
        let list = commands.sorted { $0.key < $1.key }.map { "\($0.key) \(BenchFormat.number($0.value))" }
        return "client \(BenchFormat.number(clientMicroseconds)) µs, server \(BenchFormat.number(serverMicroseconds)) µs, "
            + "client context switches \(BenchFormat.number(clientSwitches)), server commands: \(list.joined(separator: ", "))"
    }
}
