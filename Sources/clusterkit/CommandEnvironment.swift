import ClusterKit
import ClusterKitConformance
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
        return registry
    }

    /// Loads configuration from the environment and `.env`; on error prints the message to
    /// stderr and exits with status 2.
    static func loadConfiguration() async -> ClusterConfiguration {
        do {
            return try await ClusterConfiguration.fromEnvironment()
        } catch {
            fail(error.description, status: 2)
        }
    }

    /// Sends swift-log output to stderr at `CLUSTERKIT_LOG_LEVEL` (default `defaultLevel`),
    /// with URL passwords redacted from every message and metadata value.
    static func bootstrapLogging(defaultLevel: Logger.Level) {
        let requested = ProcessInfo.processInfo.environment["CLUSTERKIT_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
        let level = requested ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = RedactingLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
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
