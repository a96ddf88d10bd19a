import ClusterKit
import Logging

/// The example's own settings, read like ClusterKit's (process environment, then `.env`);
/// a command-line `--port N` / `--host H` wins over the variable.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `PORT` | `8080` | HTTP port; `0` picks a free one (the log line `listening on …` names it) |
/// | `HOST` | `127.0.0.1` | address to bind; `0.0.0.0` for every interface |
/// | `LOG_LEVEL` | `info` | trace, debug, info, notice, warning, error, critical |
struct ServerSettings: Sendable {
    var host: String
    var port: Int
    var logLevel: Logger.Level

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(configuration: ClusterConfiguration, arguments: [String]) throws(Invalid) {
        var host = configuration.value("HOST") ?? "127.0.0.1"
        var portText = configuration.value("PORT") ?? "8080"
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            switch argument {
            case "--port":
                guard let value = remaining.popFirst() else { throw Invalid(description: "--port needs a value") }
                portText = value
            case "--host":
                guard let value = remaining.popFirst() else { throw Invalid(description: "--host needs a value") }
                host = value
            default:
                throw Invalid(description: "unknown argument '\(argument)' (usage: HummingbirdCluster [--host H] [--port N])")
            }
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw Invalid(description: "port must be 0...65535, got '\(portText)'")
        }
        let levelText = configuration.value("LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw Invalid(description: "LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(levelText)'")
        }
        self.host = host
        self.port = port
        self.logLevel = level
    }
}
