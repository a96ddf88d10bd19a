import PackagePlugin

/// `swift package clusterkit-env [--check | --write]`: compares (default) or regenerates the
/// package's `.env.example` and README settings table from the `ClusterSettings`
/// declaration, by running `clusterkit settings --check | --write --package-dir <package>`.
///
/// It declares no permission on purpose: SwiftPM asks for a declared permission on every
/// run of the verb and refuses outright when it cannot ask (CI), so a declared write
/// permission would break the read-only `--check` that CI runs. `--write` therefore needs
/// `swift package --allow-writing-to-package-directory clusterkit-env --write` under macOS's
/// sandbox (the flag opens the package directory to any plugin); Linux has no plugin sandbox.
@main
struct ClusterKitEnvPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let mode: String
        switch arguments {
        case [], ["--check"]: mode = "--check"
        case ["--write"]: mode = "--write"
        default:
            throw ClusterKitExecutable.Failure(description: "usage: swift package clusterkit-env [--check | --write]")
        }
        try await ClusterKitExecutable.run(["settings", mode, "--package-dir", context.package.directoryURL.path], context: context, packageManager: packageManager)
    }
}
