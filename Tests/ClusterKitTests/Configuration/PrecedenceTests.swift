import ClusterKit
import Foundation
import Testing

@Suite("Configuration precedence")
struct PrecedenceTests {
    /// Writes `contents` to a temporary `.env` file and returns its path.
    static func envFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-\(UUID().uuidString).env").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("defaults apply when nothing is set")
    func defaults() async throws {
        let configuration = try await ClusterConfiguration.fromEnvironment([:], environmentFile: "/nonexistent/.env")
        #expect(configuration.appName == "app")
        #expect(configuration.cacheMemoryMax == 2000)
        #expect(configuration.workerIDMax == 31)
        #expect(configuration.workerIDLeaseTTL == .seconds(30))
        for primitive in Primitive.allCases {
            #expect(configuration.adapterNames[primitive] == "memory")
        }
    }

    @Test("the process environment beats the .env file, which beats the defaults")
    func environmentBeatsFile() async throws {
        let file = try Self.envFile("""
            # comment line
            APP_NAME=fromfile
            CACHE_MEMORY_MAX=77
            WORKER_ID_MAX=7
            """)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let configuration = try await ClusterConfiguration.fromEnvironment(["APP_NAME": "fromenv"], environmentFile: file)
        #expect(configuration.appName == "fromenv")
        #expect(configuration.cacheMemoryMax == 77)
        #expect(configuration.workerIDMax == 7)
    }

    @Test("a primitive's own URL beats REDIS_URL, whichever source each comes from")
    func ownURLBeatsFallback() async throws {
        var registry = AdapterRegistry()
        registry.registerCache(.init(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true)) { _ in
            throw CacheError.backend("not built in this test")
        }
        // NocoBase PR #10065: REDIS_URL once overrode CACHE_REDIS_URL. Pin the opposite.
        let file = try Self.envFile("CACHE_REDIS_URL=redis://cachehost:6380/5\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let configuration = try await ClusterConfiguration.fromEnvironment(
            ["CACHE_DEFAULT_STORE": "redis", "REDIS_URL": "redis://shared:6379/3"], environmentFile: file)
        let resolved = try configuration.resolve(.cache, in: registry)
        #expect(resolved.url?.variable == "CACHE_REDIS_URL")
        let url = try #require(try resolved.url?.redis())
        #expect(url.host == "cachehost")
        #expect(url.port == 6380)
        #expect(url.database == 5)
    }

    @Test("REDIS_URL is the fallback, and the default URL is used (and flagged) when neither is set")
    func fallbackAndDefault() throws {
        var registry = AdapterRegistry()
        registry.registerLock(.init(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true)) { _ in
            throw LockError(code: .backend, message: "not built in this test")
        }
        let shared = try ClusterConfiguration(values: ["LOCK_ADAPTER_DEFAULT": "redis", "REDIS_URL": "redis://shared/2"])
        let viaFallback = try shared.resolve(.lock, in: registry)
        #expect(viaFallback.url?.variable == "REDIS_URL")
        #expect(try viaFallback.url?.redis().database == 2)
        #expect(viaFallback.usesDefaultURL == false)

        let bare = try ClusterConfiguration(values: ["LOCK_ADAPTER_DEFAULT": "redis"])
        let viaDefault = try bare.resolve(.lock, in: registry)
        #expect(viaDefault.usesDefaultURL)
        #expect(try viaDefault.url?.redis().host == "localhost")
    }

    @Test("a blank environment variable does not hide the .env value")
    func blankEnvironmentDoesNotHideFile() async throws {
        let file = try Self.envFile("REDIS_URL=redis://fromfile:6379/1\nAPP_NAME=fromfile\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let configuration = try await ClusterConfiguration.fromEnvironment(["REDIS_URL": "", "APP_NAME": "  "], environmentFile: file)
        #expect(configuration.value("REDIS_URL") == "redis://fromfile:6379/1")
        #expect(configuration.appName == "fromfile")
    }

    @Test("an empty value counts as unset")
    func emptyIsUnset() throws {
        let configuration = try ClusterConfiguration(values: ["APP_NAME": "", "CACHE_DEFAULT_STORE": "  "])
        #expect(configuration.appName == "app")
        #expect(configuration.adapterNames[.cache] == "memory")
    }

    @Test("`local` selects the memory lock")
    func localAlias() throws {
        var registry = AdapterRegistry()
        registry.registerLock(.init(name: "memory", aliases: ["local"], isNetworked: false)) { _ in
            throw LockError(code: .backend, message: "unused")
        }
        let configuration = try ClusterConfiguration(values: ["LOCK_ADAPTER_DEFAULT": "local"])
        let resolved = try configuration.resolve(.lock, in: registry)
        #expect(resolved.name == "memory")
        #expect(resolved.selectedName == "local")
    }
}
