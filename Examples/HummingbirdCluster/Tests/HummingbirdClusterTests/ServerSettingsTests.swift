import ClusterKit
@testable import HummingbirdCluster
import Testing

@Suite struct ServerSettingsTests {
    @Test func defaults() throws {
        let settings = try ServerSettings(configuration: try ClusterConfiguration(values: [:]), arguments: [])
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 8080)
        #expect(settings.logLevel == .info)
    }

    @Test func argumentsWinOverVariables() throws {
        let configuration = try ClusterConfiguration(values: ["PORT": "9000", "HOST": "0.0.0.0", "LOG_LEVEL": "DEBUG"])
        let settings = try ServerSettings(configuration: configuration, arguments: ["--port", "9001"])
        #expect(settings.port == 9001)
        #expect(settings.host == "0.0.0.0")
        #expect(settings.logLevel == .debug)
    }

    @Test(arguments: [["--port", "65536"], ["--port"], ["--verbose"]])
    func badArgumentsAreErrors(_ arguments: [String]) throws {
        #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettings(configuration: try ClusterConfiguration(values: [:]), arguments: arguments)
        }
    }

    @Test func badPortVariableIsAnError() throws {
        #expect(throws: ServerSettings.Invalid.self) {
            try ServerSettings(configuration: try ClusterConfiguration(values: ["PORT": "http"]), arguments: [])
        }
    }
}
