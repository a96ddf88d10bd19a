import ClusterKit
import Testing

@Suite("Connection URLs")
struct URLTests {
    @Test("redis URL parts, defaults and options")
    func redisParts() throws {
        let full = try RedisURL(parsing: "redis://alice:p%40ss@db.internal:6390/4?connect_timeout=250ms&command_timeout=2s&pool_size=3")
        #expect(full.username == "alice")
        #expect(full.password == "p@ss")
        #expect(full.host == "db.internal")
        #expect(full.port == 6390)
        #expect(full.database == 4)
        #expect(full.connectTimeout == .milliseconds(250))
        #expect(full.commandTimeout == .seconds(2))
        #expect(full.poolSize == 3)

        let bare = try RedisURL(parsing: "redis://localhost")
        #expect(bare.port == 6379)
        #expect(bare.database == 0)
        #expect(bare.password == nil)

        let slashes = try AMQPURL(parsing: "amqp://u:Zk3/9q?P#x@mq:5673/%2f")
        #expect(slashes.password == "Zk3/9q?P#x")
        #expect(slashes.host == "mq")
        #expect(slashes.port == 5673)
        #expect(!slashes.description.contains("Zk3"))
        #expect(try RedisURL(parsing: "redis://:s3cret/9@host:6379/0").password == "s3cret/9")

        let passwordOnly = try RedisURL(parsing: "redis://:secret@[::1]:7000/1")
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == "secret")
        #expect(passwordOnly.host == "::1")
        #expect(passwordOnly.port == 7000)
    }

    @Test("amqp URL parts; %2f is the / vhost")
    func amqpParts() throws {
        let url = try AMQPURL(parsing: "amqp://bob:pw@mq:5673/%2f?heartbeat=20")
        #expect(url.username == "bob")
        #expect(url.password == "pw")
        #expect(url.port == 5673)
        #expect(url.virtualHost == "/")
        #expect(url.heartbeatSeconds == 20)
        #expect(try AMQPURL(parsing: "amqp://u:p@mq/orders").virtualHost == "orders")
        #expect(try AMQPURL(parsing: "amqp://mq").username == "guest")
    }

    @Test("descriptions never contain the password")
    func descriptionsRedact() throws {
        let redis = try RedisURL(parsing: "redis://:s3cret@localhost:1/0")
        #expect(!redis.description.contains("s3cret"))
        #expect(redis.description.contains("***"))
        let amqp = try AMQPURL(parsing: "amqp://guest:s3cret@localhost/%2f")
        #expect(!amqp.description.contains("s3cret"))
        let connection = ConnectionURL("redis://user:s3cret@h/0", variable: "REDIS_URL")
        #expect(connection.description == "redis://user:***@h/0")
        #expect("\(connection)".contains("s3cret") == false)
    }

    @Test("a single configured URL hides its password even when malformed", arguments: [
        "amqp://u:Zk3/9qP@mq:5672/%2f", "redis://:a b@h/0", "redis://:p#w?x@h", "redis://u:s3cret@:6379/0",
    ])
    func redactsOneURL(_ url: String) {
        let redacted = Redaction.redactedURL(url)
        #expect(redacted.contains("***"))
        for secret in ["Zk3", "9qP", "a b", "p#w", "s3cret"] {
            #expect(!redacted.contains(secret), "\(redacted) shows \(secret)")
        }
    }

    @Test("a redis database index must be a non-negative decimal number that fits SELECT's C int",
          arguments: ["-1", "abc", "+3", "1.5", "3x", "0x10", "2147483648", "99999999999999999999"])
    func malformedDatabaseIsRejected(_ database: String) throws {
        let error = try #require(throws: ConfigurationError.self) {
            try RedisURL(parsing: "redis://:s3cret@h:6379/\(database)", variable: "REDIS_URL")
        }
        #expect(error.code == .invalidURL)
        #expect(error.message.contains("'\(database)' is not a database index"), "\(error.message)")
        #expect(!error.message.contains("s3cret"))
    }

    @Test("database indexes beyond the default 16 parse: the server's `databases` setting decides")
    func largeDatabaseIndexesParse() throws {
        #expect(try RedisURL(parsing: "redis://h/0").database == 0)
        #expect(try RedisURL(parsing: "redis://h/15").database == 15)
        #expect(try RedisURL(parsing: "redis://h/16").database == 16)
        #expect(try RedisURL(parsing: "redis://h/2147483647").database == 2_147_483_647)
    }

    @Test("whitespace in a URL is rejected (and the error hides the password)")
    func whitespaceRejected() throws {
        let error = try #require(throws: ConfigurationError.self) { try RedisURL(parsing: "redis://:a b@h/0", variable: "REDIS_URL") }
        #expect(error.message.contains("whitespace"))
        #expect(!error.message.contains("a b"))
    }

    @Test("redaction finds every URL password in free text", arguments: [
        ("connect to redis://:pw1@h:1/0 failed", "connect to redis://:***@h:1/0 failed"),
        ("a amqp://u:pw2@h/%2f and redis://u:pw3@x", "a amqp://u:***@h/%2f and redis://u:***@x"),
        ("no credentials redis://h:6379/0", "no credentials redis://h:6379/0"),
        ("user only redis://u@h", "user only redis://u@h"),
        ("at in password redis://u:p@ss@h/0", "at in password redis://u:***@h/0"),
        ("slash in password amqp://u:Zk3/9qP@mq:5672/%2f", "slash in password amqp://u:***@mq:5672/%2f"),
        ("query chars redis://:a?b#c@h/0 end", "query chars redis://:***@h/0 end"),
        ("quoted \"redis://:pw@h\" done", "quoted \"redis://:***@h\" done"),
    ])
    func redactsFreeText(_ input: String, _ expected: String) {
        #expect(Redaction.redactingURLPasswords(in: input) == expected)
    }
}
