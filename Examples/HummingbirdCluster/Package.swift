// swift-tools-version: 6.2
// A separate package, so ClusterKit itself never depends on Hummingbird.
import PackageDescription

let package = Package(
    name: "HummingbirdCluster",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ClusterKit", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdCluster",
            dependencies: [
                .product(name: "ClusterKit", package: "ClusterKit"),
                .product(name: "ClusterKitRedis", package: "ClusterKit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Unit tests of the example's own parts, on the memory adapters (no Redis, no HTTP);
        // scripts/three-instance-check.sh is the end-to-end check.
        .testTarget(
            name: "HummingbirdClusterTests",
            dependencies: [
                "HummingbirdCluster",
                .product(name: "ClusterKit", package: "ClusterKit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
