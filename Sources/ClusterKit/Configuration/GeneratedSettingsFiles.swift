/// The files of a package that are generated from the settings declaration — `.env.example`
/// entirely, and `README.md` between ``tableStartMarker`` and ``tableEndMarker`` — and how to
/// tell whether they drifted. Pure text in, text out: the caller reads and writes the files
/// (`clusterkit settings --check | --write --package-dir P`, used by the `clusterkit-env`
/// package plugin).
public enum GeneratedSettingsFiles {
    /// The path of `.env.example`, relative to the package directory.
    public static let envExamplePath = ".env.example"
    /// The path of the README, relative to the package directory.
    public static let readmePath = "README.md"
    /// The line after which the README's generated table starts.
    public static let tableStartMarker = "<!-- settings-table -->"
    /// The line before which the README's generated table ends.
    public static let tableEndMarker = "<!-- /settings-table -->"

    /// One generated file: where it lives and what it must contain.
    public struct File: Sendable, Hashable {
        /// Relative to the package directory.
        public let path: String
        public let contents: String
    }

    /// A generated file whose contents differ from the declaration.
    public struct Drift: Sendable, Hashable, CustomStringConvertible {
        public let path: String
        /// A short hint at the first difference (line number, expected and found text).
        public let hint: String
        public var description: String { "\(path): \(hint)" }
    }

    /// What the generated files must contain, given the README as it is now (only the part
    /// between the markers is generated). Throws when the README lacks the markers.
    public static func expected(readme: String, settings: [Setting] = ClusterSettings.all) throws(ConfigurationError) -> [File] {
        [
            File(path: envExamplePath, contents: SettingsDocument.envExample(for: settings)),
            File(path: readmePath, contents: try replacingTable(in: readme, with: SettingsDocument.markdownTable(for: settings))),
        ]
    }

    /// `readme` with the lines between the marker lines replaced by `table`; the markers stay.
    public static func replacingTable(in readme: String, with table: String) throws(ConfigurationError) -> String {
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        let start = lines.firstIndex { $0.trimmingTrailingSpaces == tableStartMarker }
        let end = lines.firstIndex { $0.trimmingTrailingSpaces == tableEndMarker }
        guard let start, let end, start < end else {
            throw ConfigurationError(code: .invalidValue, message: "\(readmePath) has no settings table: put the lines "
                + "\(tableStartMarker) and \(tableEndMarker) (in that order) where the table goes")
        }
        var tableLines = table.split(separator: "\n", omittingEmptySubsequences: false)
        if tableLines.last == "" { tableLines.removeLast() }
        let replaced = lines[...start] + tableLines + lines[end...]
        return replaced.joined(separator: "\n")
    }

    /// `nil` when `actual` equals `expected`; otherwise where they first differ. A missing
    /// file is passed as `actual == nil`.
    public static func drift(path: String, expected: String, actual: String?) -> Drift? {
        guard let actual else { return Drift(path: path, hint: "missing") }
        guard actual != expected else { return nil }
        let want = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let have = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let index = (0..<min(want.count, have.count)).first { want[$0] != have[$0] } ?? min(want.count, have.count)
        func quoted(_ lines: [Substring]) -> String {
            index < lines.count ? "\"\(lines[index].prefix(120))\"" : "end of file"
        }
        let hint = "line \(index + 1) differs: expected \(quoted(want)), found \(quoted(have))"
            + " (\(want.count) lines expected, \(have.count) found)"
        // A hand-edited example file might hold a real URL: never print its password.
        return Drift(path: path, hint: Redaction.redactingURLPasswords(in: hint))
    }
}

extension Substring {
    fileprivate var trimmingTrailingSpaces: Substring {
        var text = self
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text.removeLast() }
        return text
    }
}
