import PackagePlugin

/// `swift package --allow-network-connections all clusterkit-doctor [--json] [--timeout S]`:
/// builds `clusterkit` and prints `clusterkit doctor`'s table — one row per primitive with
/// its adapter, redacted URL and whether the backend answers — for the configuration in the
/// caller's environment and the package directory's `.env`. Fails unless every primitive
/// is usable.
@main
struct ClusterKitDoctorPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        try await ClusterKitExecutable.run(["doctor"] + arguments, context: context, packageManager: packageManager)
    }
}
