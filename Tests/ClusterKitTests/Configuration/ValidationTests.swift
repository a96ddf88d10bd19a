import ClusterKit
import Testing

@Suite("Configuration validation")
struct ValidationTests {
    static var registry: AdapterRegistry {
        var registry = AdapterRegistry()
        registry.registerCache(.init(name: "memory", isNetworked: false)) { _ in throw CacheError.closed }
        return registry
    }

    @Test("a typo in a selector names the variable, the value and the valid names")
    func selectorTypo() throws {
        let configuration = try ClusterConfiguration(values: ["CACHE_DEFAULT_STORE": "redsi"])
        let error = try #require(throws: ConfigurationError.self) { try configuration.resolve(.cache, in: Self.registry) }
        #expect(error.code == .unknownAdapter)
        #expect(error.message.contains("CACHE_DEFAULT_STORE"))
        #expect(error.message.contains("redsi"))
        #expect(error.message.contains("memory"))
    }

    @Test("a known but unlinked adapter says which module to link")
    func unlinkedModule() throws {
        let configuration = try ClusterConfiguration(values: ["CACHE_DEFAULT_STORE": "redis"])
        let error = try #require(throws: ConfigurationError.self) { try configuration.resolve(.cache, in: Self.registry) }
        #expect(error.message.contains("ClusterKitRedis"))
    }

    @Test("malformed numbers and app names are startup errors", arguments: [
        ["CACHE_MEMORY_MAX": "lots"], ["CACHE_MEMORY_MAX": "0"], ["WORKER_ID_MAX": "-1"],
        ["WORKER_ID_LEASE_TTL_MS": "ten"], ["APP_NAME": "my app"], ["APP_NAME": "a:b"],
    ])
    func malformedValues(_ values: [String: String]) throws {
        let error = try #require(throws: ConfigurationError.self) { try ClusterConfiguration(values: values) }
        #expect(error.code == .invalidValue)
        #expect(error.message.contains(values.keys.first!))
    }

    @Test("malformed URLs fail at resolution and quote the URL with the password hidden", arguments: [
        "redis://:s3cret@host:notaport/0",
        "redis://:s3cret@host:6379/zero",
        "redis://:s3cret@:6379/0",
        "http://:s3cret@host:6379/0",
        "redis://:s3cret@host:99999/0",
        "redis://:s3cret@host:6379/0?colour=blue",
        "not a url s3cret",
        "redis://:s3c ret@host:6379/0",
    ])
    func malformedRedisURL(_ text: String) throws {
        var registry = AdapterRegistry()
        registry.registerCache(.init(name: "redis", urlName: "redis", defaultURL: RedisURL.defaultText, isNetworked: true)) { _ in
            throw CacheError.closed
        }
        let configuration = try ClusterConfiguration(values: ["CACHE_DEFAULT_STORE": "redis", "REDIS_URL": text])
        let error = try #require(throws: ConfigurationError.self) { try configuration.resolve(.cache, in: registry) }
        #expect(error.code == .invalidURL)
        #expect(error.message.contains("REDIS_URL"))
        if text.contains("://") {
            #expect(!error.message.contains("s3c"), "password leaked: \(error.message)")
        }
    }
}
