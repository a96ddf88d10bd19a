// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "ClusterKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ClusterKit", targets: ["ClusterKit"]),
        .library(name: "ClusterKitConformance", targets: ["ClusterKitConformance"]),
        .executable(name: "clusterkit", targets: ["clusterkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        // The `clusterkit` command-line tool: demo, doctor, conformance.
        .executableTarget(
            name: "clusterkit",
            dependencies: [
                "ClusterKit",
                "ClusterKitConformance",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ClusterKitTests",
            dependencies: [
                "ClusterKit",
                "ClusterKitConformance",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ClusterKitCLITests",
            dependencies: ["clusterkit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
