import ClusterKit
import Testing

@Suite("Generated settings files (.env.example, README table)")
struct GeneratedSettingsFilesTests {
    static let readme = """
        # Title

        intro
        <!-- settings-table -->
        | old | table |
        <!-- /settings-table -->

        ## After
        """

    @Test("the README table is replaced between the markers only, and regenerating is idempotent")
    func replacesBetweenMarkers() throws {
        let replaced = try GeneratedSettingsFiles.replacingTable(in: Self.readme, with: "| a |\n|---|\n")
        #expect(replaced == "# Title\n\nintro\n<!-- settings-table -->\n| a |\n|---|\n<!-- /settings-table -->\n\n## After")
        #expect(try GeneratedSettingsFiles.replacingTable(in: replaced, with: "| a |\n|---|\n") == replaced)
    }

    @Test("a README without both markers (or with them reversed) is an error naming the markers", arguments: [
        "no markers at all",
        "<!-- settings-table -->\nonly the start",
        "<!-- /settings-table -->\n| x |\n<!-- settings-table -->",
    ])
    func missingMarkers(_ readme: String) {
        let error = #expect(throws: ConfigurationError.self) { try GeneratedSettingsFiles.replacingTable(in: readme, with: "| a |\n") }
        #expect(error?.message.contains(GeneratedSettingsFiles.tableStartMarker) == true)
    }

    @Test("files generated from the declaration have no drift")
    func noDriftWhenRegenerated() throws {
        for file in try GeneratedSettingsFiles.expected(readme: Self.readme) {
            #expect(GeneratedSettingsFiles.drift(path: file.path, expected: file.contents, actual: file.contents) == nil)
        }
    }

    @Test("a variable added to the declaration but not regenerated is drift in both files")
    func addedVariableIsDrift() throws {
        let current = try GeneratedSettingsFiles.expected(readme: Self.readme)
        // Declared last, in the last section, so both files differ first at the new variable.
        let added = Setting("WORKER_ID_EXTRA_KNOB", kind: .integer, default: "7", primitive: .workerID, "A knob nobody regenerated.")
        let declared = try GeneratedSettingsFiles.expected(readme: Self.readme, settings: ClusterSettings.all + [added])
        #expect(declared.map(\.path) == [GeneratedSettingsFiles.envExamplePath, GeneratedSettingsFiles.readmePath])
        for (now, wanted) in zip(current, declared) {
            let drift = try #require(GeneratedSettingsFiles.drift(path: wanted.path, expected: wanted.contents, actual: now.contents),
                                     "\(wanted.path) should have drifted")
            #expect(drift.path == wanted.path)
            #expect(drift.hint.contains("knob nobody regenerated"), "hint: \(drift.hint)")
        }
    }

    @Test("the drift hint names the first differing line and a missing file")
    func driftHint() throws {
        let drift = try #require(GeneratedSettingsFiles.drift(path: "f", expected: "a\nb\nc\n", actual: "a\nB\nc\n"))
        #expect(drift.hint.hasPrefix("line 2 differs: expected \"b\", found \"B\""), "hint: \(drift.hint)")
        let shorter = try #require(GeneratedSettingsFiles.drift(path: "f", expected: "a\nb", actual: "a"))
        #expect(shorter.hint.contains("found end of file"), "hint: \(shorter.hint)")
        #expect(GeneratedSettingsFiles.drift(path: "f", expected: "a", actual: nil)?.hint == "missing")
    }

    @Test("the drift hint never prints a password someone typed into the example file")
    func driftHintRedacts() throws {
        let drift = try #require(GeneratedSettingsFiles.drift(path: ".env.example", expected: "# REDIS_URL=\n",
                                                              actual: "REDIS_URL=redis://:hunter2@db:6379/0\n"))
        #expect(!drift.hint.contains("hunter2"), "hint: \(drift.hint)")
    }

    @Test("every URL variable a registered adapter reads must be declared")
    func undeclaredURLVariables() {
        #expect(ClusterSettings.undeclaredURLVariables(in: .builtIn).isEmpty)
        var registry = AdapterRegistry.builtIn
        registry.registerQueue(.init(name: "nats", urlName: "nats", isNetworked: true)) { _ in throw QueueError.closed }
        registry.registerCache(.init(name: "redis", urlName: "redis", isNetworked: true)) { _ in throw CacheError.closed }
        #expect(ClusterSettings.undeclaredURLVariables(in: registry) == ["NATS_URL", "QUEUE_ADAPTER_NATS_URL"])
    }

    @Test("a selector's documentation must name every registered adapter (aliases included)")
    func selectorSummariesListAdapters() {
        #expect(ClusterSettings.selectorSummariesMissingAdapters(in: .builtIn).isEmpty)
        var registry = AdapterRegistry.builtIn
        registry.registerQueue(.init(name: "redis", urlName: "redis", isNetworked: true)) { _ in throw QueueError.closed }
        registry.registerQueue(.init(name: "nats", aliases: ["jetstream"], urlName: "nats", isNetworked: true)) { _ in throw QueueError.closed }
        #expect(ClusterSettings.selectorSummariesMissingAdapters(in: registry) == ["QUEUE_ADAPTER: jetstream", "QUEUE_ADAPTER: nats"])
    }

    @Test("every declared name is unique, upper-case, documented, and URLs are secret")
    func declarationIsWellFormed() {
        let names = ClusterSettings.all.map(\.name)
        #expect(Set(names).count == names.count)
        for setting in ClusterSettings.all {
            #expect(setting.name.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" }, "\(setting.name)")
            #expect(!setting.summary.isEmpty && !setting.summary.contains("\n"), "\(setting.name)")
            if setting.kind == .url { #expect(setting.isSecret, "\(setting.name)") }
            #expect(ClusterSettings.setting(named: setting.name) == setting)
        }
        for primitive in Primitive.allCases {
            #expect(names.contains(ClusterSettings.selector(for: primitive).name))
        }
    }
}
