import PackagePlugin

/// `swift package clusterkit-env-write`: regenerates `.env.example` and the README settings
/// table, like `clusterkit-env --write`, but declares the write permission, so SwiftPM asks
/// for it (or takes `--allow-writing-to-package-directory`) instead of the sandbox refusing
/// the write. A separate verb because a declared permission is demanded on every run of a
/// verb, and `clusterkit-env --check` must run in CI without one.
@main
struct ClusterKitEnvWritePlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        guard arguments.isEmpty else {
            throw ClusterKitExecutable.Failure(description: "usage: swift package clusterkit-env-write (no arguments)")
        }
        try await ClusterKitExecutable.run(["settings", "--write", "--package-dir", context.package.directoryURL.path], context: context, packageManager: packageManager)
    }
}
