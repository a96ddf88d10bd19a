import ArgumentParser
import ClusterKit
import Foundation

/// `clusterkit settings`: every environment variable ClusterKit reads, from the one
/// declaration in `ClusterSettings`. `--env-example` / `--markdown` print the generated
/// documents; `--check` / `--write` compare / regenerate the package's `.env.example` and
/// README table (what the `clusterkit-env` package plugin runs).
struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List the environment variables ClusterKit reads, or check/regenerate the files made from them.",
        discussion: """
            --check exits 1 when .env.example or the README table (between \(GeneratedSettingsFiles.tableStartMarker) \
            and \(GeneratedSettingsFiles.tableEndMarker)) differ from the declaration, when a linked adapter reads \
            a URL variable that is not declared, or when a selector's documentation omits a linked adapter; 2 when a \
            file cannot be read or the README lacks the markers.
            """
    )

    @Flag(name: .long, help: "Print the contents of .env.example.")
    var envExample = false

    @Flag(name: .long, help: "Print a Markdown table for the README.")
    var markdown = false

    @Flag(name: .long, help: "Exit 1 if the package's .env.example or README table drifted from the declaration.")
    var check = false

    @Flag(name: .long, help: "Regenerate the package's .env.example and README table.")
    var write = false

    @Option(name: .long, help: "The package directory for --check/--write (default: the working directory).")
    var packageDir: String?

    func validate() throws {
        if [envExample, markdown, check, write].count(where: { $0 }) > 1 {
            throw ValidationError("give at most one of --env-example, --markdown, --check, --write")
        }
        if packageDir != nil && !(check || write) { throw ValidationError("--package-dir goes with --check or --write") }
    }

    func run() async throws {
        if envExample {
            print(SettingsDocument.envExample, terminator: "")
        } else if markdown {
            print(SettingsDocument.markdownTable, terminator: "")
        } else if check || write {
            try sync(writing: write)
        } else {
            for setting in ClusterSettings.all {
                print("\(setting.name)=\(setting.defaultValue ?? "")\t\(setting.summary)")
            }
        }
    }

    private func sync(writing: Bool) throws {
        let directory = URL(fileURLWithPath: packageDir ?? FileManager.default.currentDirectoryPath, isDirectory: true)
        func read(_ path: String) -> String? {
            try? String(contentsOf: directory.appendingPathComponent(path), encoding: .utf8)
        }
        guard let readme = read(GeneratedSettingsFiles.readmePath) else {
            CommandEnvironment.fail("cannot read \(directory.appendingPathComponent(GeneratedSettingsFiles.readmePath).path)", status: 2)
        }
        let files: [GeneratedSettingsFiles.File]
        do {
            files = try GeneratedSettingsFiles.expected(readme: readme)
        } catch {
            CommandEnvironment.fail(error.message, status: 2)
        }
        let undeclared = ClusterSettings.undeclaredURLVariables(in: CommandEnvironment.registry)
        for name in undeclared {
            CommandEnvironment.printError("error: \(name) is read by a linked adapter but not declared in ClusterSettings")
        }
        let unlisted = ClusterSettings.selectorSummariesMissingAdapters(in: CommandEnvironment.registry)
        for entry in unlisted {
            CommandEnvironment.printError("error: the documentation of \(entry.split(separator: ":")[0]) does not list the linked adapter"
                + "\(entry.drop { $0 != ":" }.dropFirst()); add it to its summary in ClusterSettings")
        }
        let drifts = files.compactMap { GeneratedSettingsFiles.drift(path: $0.path, expected: $0.contents, actual: read($0.path)) }
        if writing {
            for file in files where drifts.contains(where: { $0.path == file.path }) {
                do {
                    try file.contents.write(to: directory.appendingPathComponent(file.path), atomically: true, encoding: .utf8)
                } catch {
                    CommandEnvironment.fail("cannot write \(file.path): \(error.localizedDescription)", status: 2)
                }
                print("wrote \(file.path)")
            }
            if drifts.isEmpty { print("\(files.map(\.path).joined(separator: " and ")) already match the declaration") }
        } else {
            for drift in drifts {
                CommandEnvironment.printError("drift: \(drift)")
            }
            if drifts.isEmpty {
                print("\(files.map(\.path).joined(separator: " and ")) match the declaration (\(ClusterSettings.all.count) variables)")
            } else {
                CommandEnvironment.printError("regenerate with: swift package --allow-writing-to-package-directory clusterkit-env --write"
                    + " (or: swift run clusterkit settings --write)")
            }
        }
        if !undeclared.isEmpty || !unlisted.isEmpty || (!writing && !drifts.isEmpty) { throw ExitCode(1) }
    }
}
