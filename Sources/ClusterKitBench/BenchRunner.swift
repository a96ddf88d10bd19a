import ClusterKit
import Foundation

/// Runs `clusterkit bench`: starts (or uses) the servers the selection needs, builds each
/// group of rows, warms up, runs the repetitions and reports medians.
public enum BenchRunner {
    public static func run(_ options: BenchOptions) async throws -> BenchReport {
        guard options.duration > 0, options.repetitions > 0 else { throw BenchError("--duration and --repetitions must be positive") }
        let kinds = BenchGroupKind.allCases.filter { options.selection.includes($0.primitive, $0.backend) }
        guard !kinds.isEmpty else {
            let available = BenchGroupKind.allCases.map { "\($0.primitive.rawValue)/\($0.backend.rawValue)" }
            throw BenchError("no bench rows for this selection; rows exist for \(Set(available).sorted().joined(separator: ", "))")
        }
        let loadBefore = loadAverage()
        var warnings: [String] = []
        #if DEBUG
        warnings.append("debug build: figures are not meaningful; run `swift run -c release clusterkit bench`")
        #endif
        let redis = options.selection.needs(.redis) ? try await BenchRedis.prepare(options.redisURL, progress: options.progress) : nil
        if let redis, redis.tool == nil {
            warnings.append("redis-benchmark not found: Redis rows show absolute figures only (ratio and met are null); install redis-tools/redis-server")
        }
        let rabbitMQ = options.selection.needs(.rabbitmq) ? try await BenchRabbitMQ.prepare(options.rabbitMQURL, progress: options.progress) : nil

        var groups: [any BenchGroup] = []
        var rabbitMQVersion: String?
        do {
            for kind in kinds {
                let group = try await makeGroup(kind, redis: redis, rabbitMQ: rabbitMQ)
                if let rabbit = group as? RabbitMQQueueGroup { rabbitMQVersion = rabbit.serverVersion }
                groups.append(group)
            }
            let samples = try await measure(groups, options)
            for group in groups { await group.close() }
            await redis?.stop()
            let rows = groups.flatMap { group in
                group.rows.map { spec in
                    BenchRow(spec: spec, oursSamples: samples[spec.name]?.ours ?? [], referenceSamples: samples[spec.name]?.reference ?? [])
                }
            }
            let context = BenchContext(
                durationSeconds: options.duration, repetitions: options.repetitions,
                warmUp: "one untimed pass of every measurement at \(BenchFormat.number(min(0.5, options.duration))) s (also sizes redis-benchmark and raw-loop counts)",
                machineCores: ProcessInfo.processInfo.activeProcessorCount, loadAverageBefore: loadBefore, loadAverageAfter: loadAverage(),
                redisServer: redis?.description, redisServerVersion: redis?.version, redisBenchmark: redis.map { $0.tool?.version ?? "redis-benchmark not found" },
                rabbitMQServer: rabbitMQ?.description, rabbitMQServerVersion: rabbitMQVersion,
                librabbitmqVersion: rabbitMQ == nil ? nil : RawRabbitMQLoop.libraryVersion,
                hiredisVersion: redis == nil ? nil : BenchRedis.hiredisVersion,
                swiftCompiler: compilerVersion, buildConfiguration: buildConfiguration,
                settings: settings(kinds), warnings: warnings)
            return BenchReport(rows: rows, context: context)
        } catch {
            for group in groups { await group.close() }
            await redis?.stop()
            throw error
        }
    }

    private static func makeGroup(_ kind: BenchGroupKind, redis: BenchRedis?, rabbitMQ: BenchRabbitMQ?) async throws -> any BenchGroup {
        switch kind {
        case .memoryCache: return try await MemoryCacheGroup()
        case .snowflake: return try SnowflakeGroup()
        case .redisCache: return try await RedisCacheGroup(url: redis!.url, tool: redis!.tool)
        case .redisLock: return try await RedisLockGroup(url: redis!.url, tool: redis!.tool)
        case .redisPubSub: return try await RedisPubSubGroup(url: redis!.url)
        case .redisQueue: return try await RedisQueueGroup(url: redis!.url)
        case .rabbitMQQueue: return try await RabbitMQQueueGroup(url: rabbitMQ!.url)
        }
    }

    /// Warm-up, then the repetitions; samples by row name.
    private static func measure(_ groups: [any BenchGroup], _ options: BenchOptions) async throws -> [String: (ours: [Double], reference: [Double])] {
        for group in groups {
            options.progress("warm-up: \(group.rows.map(\.name).joined(separator: "; "))")
            _ = try await group.measure(duration: min(0.5, options.duration))
        }
        var samples: [String: (ours: [Double], reference: [Double])] = [:]
        for repetition in 1...options.repetitions {
            for group in groups {
                options.progress("repetition \(repetition)/\(options.repetitions): \(group.rows.map(\.name).joined(separator: "; "))")
                for (name, sample) in try await group.measure(duration: options.duration) {
                    samples[name, default: ([], [])].ours.append(sample.ours)
                    if let reference = sample.reference { samples[name, default: ([], [])].reference.append(reference) }
                }
            }
        }
        return samples
    }

    private static func settings(_ kinds: [BenchGroupKind]) -> [String: String] {
        var settings: [String: String] = [:]
        if kinds.contains(where: { $0.backend == .memory }) {
            settings["memory rows"] = "memory cache: 1,024 keys, 3-byte values; snowflake: SnowflakeLayout.milliseconds(), worker 1"
        }
        if kinds.contains(where: { $0.backend == .redis }) {
            settings["redis rows"] = "one RedisClient per node (default pool of 2 connections, auto-pipelining), app name `bench`; cache values 3 bytes on one key (redis-benchmark's -d 3, no -r); pub/sub and queue payloads 64 bytes"
        }
        if kinds.contains(where: { $0.backend == .rabbitmq }) {
            settings["rabbitmq rows"] = "100-byte persistent messages, durable classic queues; confirm window 512; prefetch 200"
        }
        return settings
    }

    private static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    private static var compilerVersion: String {
        #if compiler(>=6.4)
        "Swift compiler ≥ 6.4"
        #elseif compiler(>=6.3)
        "Swift compiler 6.3"
        #else
        "Swift compiler < 6.3"
        #endif
    }

    private static func loadAverage() -> [Double] {
        var values = [Double](repeating: 0, count: 3)
        let count = getloadavg(&values, 3)
        return Array(values.prefix(max(0, Int(count))))
    }
}
