import Foundation
import PackagePlugin

/// What every ClusterKit command plugin does: build the package's `clusterkit` executable
/// through SwiftPM, then run it on the package directory with the caller's environment, its
/// output going straight to the terminal. The logic lives in `clusterkit` (tested like any
/// code); the plugins only translate `swift package <verb>` into a `clusterkit` command.
///
/// This file lives in `Plugins/PluginsShared/` and is linked (a symlink) into each plugin's
/// folder: SwiftPM plugins cannot depend on a library target.
enum ClusterKitExecutable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Builds `clusterkit` (debug, like `swift build`, so the build is shared with it) and
    /// runs `clusterkit arguments…` in `context`'s package directory with the caller's
    /// environment (`packageManager` is the calling plugin's). Throws — making
    /// `swift package` exit non-zero — when the build fails or `clusterkit` exits non-zero.
    static func run(_ arguments: [String], context: PluginContext, packageManager: PackageManager) async throws {
        // The first build takes minutes and its log is only shown on failure: say what is happening.
        FileHandle.standardError.write(Data("building clusterkit (debug)…\n".utf8))
        let build = try packageManager.build(
            .product("clusterkit"), parameters: .init(configuration: .debug, logging: .concise))
        guard build.succeeded else {
            FileHandle.standardError.write(Data(build.logText.utf8))
            throw Failure(description: "building clusterkit failed (log above)")
        }
        guard let executable = build.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == "clusterkit" }) else {
            throw Failure(description: "the build produced no clusterkit executable")
        }
        let process = Process()
        process.executableURL = executable.url
        process.arguments = arguments
        process.currentDirectoryURL = context.package.directoryURL
        process.environment = ProcessInfo.processInfo.environment
        process.standardInput = FileHandle.nullDevice
        // Wait through `terminationHandler`: on Linux `waitUntilExit()` spins a run loop that
        // burns a core, slowing the timing-sensitive conformance cases running meanwhile.
        let started: Result<Void, any Error> = await withCheckedContinuation { done in
            process.terminationHandler = { _ in done.resume(returning: .success(())) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                done.resume(returning: .failure(error))
            }
        }
        try started.get()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status" : "was killed by signal"
            throw Failure(description: "clusterkit \(arguments.first ?? "") \(how) \(process.terminationStatus)")
        }
    }
}
