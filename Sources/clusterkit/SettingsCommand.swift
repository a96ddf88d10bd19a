import ArgumentParser
import ClusterKit

/// `clusterkit settings`: every environment variable ClusterKit reads, from the one
/// declaration in `ClusterSettings`. `--env-example` prints the `.env.example` file.
struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List the environment variables ClusterKit reads (or print .env.example)."
    )

    @Flag(name: .long, help: "Print the contents of .env.example.")
    var envExample = false

    @Flag(name: .long, help: "Print a Markdown table for the README.")
    var markdown = false

    func run() async throws {
        if envExample {
            print(SettingsDocument.envExample, terminator: "")
        } else if markdown {
            print(SettingsDocument.markdownTable, terminator: "")
        } else {
            for setting in ClusterSettings.all {
                print("\(setting.name)=\(setting.defaultValue ?? "")\t\(setting.summary)")
            }
        }
    }
}
