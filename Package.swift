// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "ClusterKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ClusterKit", targets: ["ClusterKit"]),
        .library(name: "ClusterKitConformance", targets: ["ClusterKitConformance"]),
        .library(name: "ClusterKitRedis", targets: ["ClusterKitRedis"]),
        .library(name: "ClusterKitRedisTesting", targets: ["ClusterKitRedisTesting"]),
        .library(name: "ClusterKitRabbitMQ", targets: ["ClusterKitRabbitMQ"]),
        .library(name: "ClusterKitRabbitMQTesting", targets: ["ClusterKitRabbitMQTesting"]),
        .executable(name: "clusterkit", targets: ["clusterkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation --target ClusterKit` (the DocC catalog).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // The core: protocols, in-memory adapters, configuration, registry, facade.
        // Knows no backend: Redis and RabbitMQ live in their own targets.
        .target(
            name: "ClusterKit",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // One conformance suite per primitive, for this package and third-party adapters.
        .target(
            name: "ClusterKitConformance",
            dependencies: [
                "ClusterKit",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Redis backend: hiredis through a system-library shim. Only apps that link this
        // target need libhiredis-dev.
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects with a
        // warning; the shim includes <hiredis/hiredis.h> from the default include path.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]
        ),
        .target(
            name: "ClusterKitRedis",
            dependencies: [
                "ClusterKit",
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test support: a private redis-server on a free loopback port, killable and restartable.
        .target(
            name: "ClusterKitRedisTesting",
            dependencies: ["ClusterKitRedis", .product(name: "Logging", package: "swift-log")]
        ),
        // RabbitMQ backend: rabbitmq-c through a system-library shim.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"]), .brew(["rabbitmq-c"])]
        ),
        .target(
            name: "ClusterKitRabbitMQ",
            dependencies: [
                "ClusterKit",
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test support: a private rabbitmq-server (own node name, ports, dirs), stoppable.
        .target(
            name: "ClusterKitRabbitMQTesting",
            dependencies: ["ClusterKitRabbitMQ", .product(name: "Logging", package: "swift-log")]
        ),
        // `clusterkit bench`: our adapters next to redis-benchmark / a raw rabbitmq-c loop,
        // same run, same server. A library so its pieces are testable apart from the CLI.
        .target(
            name: "ClusterKitBench",
            dependencies: [
                "ClusterKit",
                "ClusterKitRedis",
                "ClusterKitRedisTesting",
                "ClusterKitRabbitMQ",
                "ClusterKitRabbitMQTesting",
                "CHiredis",
                "CRabbitMQRawLoop",
            ]
        ),
        // The raw rabbitmq-c publish/consume loop `clusterkit bench` compares the adapter with.
        .target(name: "CRabbitMQRawLoop", dependencies: ["CRabbitMQ"]),
        // The `clusterkit` command-line tool: demo, doctor, conformance, bench.
        .executableTarget(
            name: "clusterkit",
            dependencies: [
                "ClusterKit",
                "ClusterKitBench",
                "ClusterKitConformance",
                "ClusterKitRedis",
                "ClusterKitRabbitMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Hot paths whose allocations per operation `make bench-check` compares with
        // checked-in thresholds (benchmarks/hotpaths-thresholds.json). CMallocCounter
        // replaces malloc in that executable only.
        .target(name: "CMallocCounter"),
        .executableTarget(
            name: "clusterkit-hotpaths",
            dependencies: ["ClusterKit", "ClusterKitRedis", "ClusterKitRedisTesting", "ClusterKitRabbitMQ", "CRabbitMQRawLoop", "CMallocCounter"],
            path: "Sources/HotPaths"
        ),
        // SwiftPM command plugins: thin shells that build `clusterkit` and run one of its
        // commands (Plugins/README.md). Shared code: Plugins/PluginsShared, symlinked in.
        .plugin(
            name: "ClusterKitEnvPlugin",
            capability: .command(intent: .custom(
                verb: "clusterkit-env",
                description: "Check (--check, default) or regenerate (--write) .env.example and the README settings table"))
        ),
        .plugin(
            name: "ClusterKitEnvWritePlugin",
            capability: .command(
                intent: .custom(verb: "clusterkit-env-write", description: "Regenerate .env.example and the README settings table"),
                permissions: [.writeToPackageDirectory(reason: "rewrites .env.example and the README settings table from ClusterSettings")])
        ),
        .plugin(
            name: "ClusterKitConformancePlugin",
            capability: .command(
                intent: .custom(verb: "clusterkit-conformance", description: "Run the conformance suites against the configured backends"),
                permissions: [.allowNetworkConnections(scope: .all(), reason: "the suites talk to the Redis/RabbitMQ servers in the configuration")])
        ),
        .plugin(
            name: "ClusterKitDoctorPlugin",
            capability: .command(
                intent: .custom(verb: "clusterkit-doctor", description: "Check every configured adapter: exists, well configured, reachable"),
                permissions: [.allowNetworkConnections(scope: .all(), reason: "the doctor connects to the configured Redis/RabbitMQ servers")])
        ),
        // The cost of the instrumenting decorators on a memory cache get loop (README, Observability).
        .executableTarget(
            name: "clusterkit-observability-bench",
            dependencies: ["ClusterKit"],
            path: "Sources/ObservabilityBenchmark"
        ),
        .testTarget(
            name: "ClusterKitTests",
            dependencies: [
                "ClusterKit",
                "ClusterKitConformance",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "ClusterKitRedisTests",
            dependencies: [
                "ClusterKitRedis",
                "ClusterKitRedisTesting",
                "ClusterKitConformance",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ClusterKitRabbitMQTests",
            dependencies: [
                "ClusterKitRabbitMQ",
                "ClusterKitRabbitMQTesting",
                "ClusterKitConformance",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ClusterKitCLITests",
            dependencies: ["clusterkit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
