import ClusterKit
import ClusterKitConformance
import ClusterKitRabbitMQ
import ClusterKitRedis
import Foundation
import Logging

/// What every subcommand needs: the configuration, the registry of linked adapters, a
/// logger on stderr, and a way to report errors without a stack trace.
enum CommandEnvironment {
    /// Every adapter this executable links. Backend modules register here as they are added.
    static var registry: AdapterRegistry {
        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        registry.registerRabbitMQAdapters()
        return registry
    }

    /// Sets up a command: ignores SIGPIPE (a dead child or a closed pipe becomes a write
    /// error, not a silent death), loads the configuration from the environment and `.env`
    /// (on error: the message on stderr, exit status 2), and sends swift-log output to stderr
    /// at `CLUSTERKIT_LOG_LEVEL` (environment or `.env`; default `defaultLogLevel`) with URL
    /// passwords redacted from every message and metadata value. `overrides` are laid over
    /// the process environment (they beat it and `.env`).
    static func prepare(defaultLogLevel: Logger.Level, overrides: [String: String] = [:]) async -> ClusterConfiguration {
        signal(SIGPIPE, SIG_IGN)
        let configuration: ClusterConfiguration
        do {
            configuration = try await ClusterConfiguration.fromEnvironment(
                ProcessInfo.processInfo.environment.merging(overrides) { $1 })
        } catch {
            fail(error.description, status: 2)
        }
        var level = defaultLogLevel
        if let requested = configuration.value(ClusterSettings.logLevel.name) {
            if let parsed = Logger.Level(rawValue: requested.lowercased()) {
                level = parsed
            } else {
                printError("warning: \(ClusterSettings.logLevel.name)=\(requested) is not a log level "
                    + "(trace, debug, info, notice, warning, error, critical); using \(defaultLogLevel)")
            }
        }
        let chosen = level
        LoggingSystem.bootstrap { label in
            var handler = RedactingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = chosen
            return handler
        }
        return configuration
    }

    /// Prints `message` (passwords redacted) to stderr and exits.
    static func fail(_ message: String, status: Int32) -> Never {
        printError("error: " + message)
        exit(status)
    }

    /// Writes a line to stderr with URL passwords redacted.
    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((Redaction.redactingURLPasswords(in: message) + "\n").utf8))
    }
}

/// Wraps a log handler and redacts URL passwords from messages and metadata: a second line
/// of defence behind adapters that log `ConnectionURL.description`.
struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler

    init(_ inner: any LogHandler) { self.inner = inner }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(Redaction.redactingURLPasswords(in: event.message.description))"
        event.metadata = event.metadata?.mapValues { .string(Redaction.redactingURLPasswords(in: $0.description)) }
        inner.log(event: event)
    }
}
