import Foundation
import Glibc
import Synchronization

/// A private `rabbitmq-server` for tests: its own node name (`ck<random>@localhost`), AMQP
/// and distribution ports (free loopback ports), Mnesia and log directories and Erlang
/// cookie (a private `HOME` holding `.erlang.cookie`, mode 400), and an empty enabled-plugins
/// file (no plugins: starts in ~8 s). It registers with the machine's shared `epmd` (4369).
///
/// Start one per test process with ``shared()``; it is stopped when the process exits, and
/// a broker left over by a killed earlier run (its owner process gone) is killed at the
/// next start. Fault helpers: ``restart()`` (`stop_app`/`start_app`: connections drop,
/// durable queues and persistent messages survive), ``closeAllConnections()``
/// (`rabbitmqctl close_all_connections`), ``addUser(_:password:)``.
///
/// Needs `/usr/lib/rabbitmq/bin/rabbitmq-server` (Debian `rabbitmq-server`): a missing binary
/// is an error, never a skip.
public final class RabbitMQBroker: Sendable {
    public let port: Int
    public let nodeName: String
    public let directory: String
    private let environment: [String: String]
    /// The `rabbitmq-server` shell wrapper, which outlives a killed node unless killed too.
    private let wrapperPID: Int32

    static let serverBinary = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    static let controlBinary = "/usr/lib/rabbitmq/bin/rabbitmqctl"
    private static let instance = Mutex<Task<RabbitMQBroker, any Error>?>(nil)

    /// The broker of this test process, started on first use.
    public static func shared() async throws -> RabbitMQBroker {
        let task = instance.withLock { current in
            if let current { return current }
            let task = Task { try await RabbitMQBroker.start() }
            current = task
            return task
        }
        return try await task.value
    }

    /// `amqp://user:password@127.0.0.1:port/vhost` (vhost percent-encoded).
    public func url(user: String = "guest", password: String = "guest", vhost: String = "/") -> String {
        let encoded = vhost == "/" ? "%2f" : vhost
        return "amqp://\(user):\(password)@127.0.0.1:\(port)/\(encoded)"
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private init(port: Int, nodeName: String, directory: String, environment: [String: String], wrapperPID: Int32) {
        self.wrapperPID = wrapperPID
        self.port = port
        self.nodeName = nodeName
        self.directory = directory
        self.environment = environment
    }

    private static func start() async throws -> RabbitMQBroker {
        guard FileManager.default.isExecutableFile(atPath: serverBinary) else {
            throw Failure(description: "\(serverBinary) is missing: install the rabbitmq-server package (make test does)")
        }
        killLeftovers()
        let suffix = String(UInt32.random(in: .min ... .max), radix: 36)
        let directory = "/tmp/clusterkit-rabbitmq-\(suffix)"
        let fm = FileManager.default
        for sub in ["home", "mnesia", "log"] { try fm.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true) }
        _ = fm.createFile(atPath: "\(directory)/enabled_plugins", contents: Data())
        let cookie = (0..<20).map { _ in String(UnicodeScalar(UInt8.random(in: 65...90))) }.joined()
        _ = fm.createFile(atPath: "\(directory)/home/.erlang.cookie", contents: Data(cookie.utf8), attributes: [.posixPermissions: 0o400])
        _ = fm.createFile(atPath: "\(directory)/owner", contents: Data(String(getpid()).utf8))
        // rabbitmq-server started as root may drop to the `rabbitmq` user: let it own its files.
        _ = try? run("/bin/chown", ["-R", "rabbitmq:rabbitmq", directory], environment: [:])
        let port = try freePort()
        let distributionPort = try freePort()
        let nodeName = "ck\(suffix)@localhost"
        let environment = [
            "HOME": "\(directory)/home",
            "PATH": "/usr/lib/rabbitmq/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "RABBITMQ_NODENAME": nodeName,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": String(port),
            "RABBITMQ_DIST_PORT": String(distributionPort),
            "RABBITMQ_MNESIA_BASE": "\(directory)/mnesia",
            "RABBITMQ_LOG_BASE": "\(directory)/log",
            "RABBITMQ_PID_FILE": "\(directory)/broker.pid",
            "RABBITMQ_ENABLED_PLUGINS_FILE": "\(directory)/enabled_plugins",
            "RABBITMQ_CONFIG_FILE": "\(directory)/rabbitmq",
            "RABBITMQ_ADVANCED_CONFIG_FILE": "\(directory)/advanced.config",
        ]
        let server = Process()
        server.executableURL = URL(fileURLWithPath: serverBinary)
        server.environment = environment
        let output = FileHandle(forWritingAtPath: "/dev/null")
        server.standardOutput = output
        server.standardError = output
        try server.run()
        let broker = RabbitMQBroker(port: port, nodeName: nodeName, directory: directory, environment: environment, wrapperPID: server.processIdentifier)
        do {
            // await_startup fails at once while the node is not registered yet: retry it.
            let deadline = ContinuousClock.now.advanced(by: .seconds(90))
            while true {
                do {
                    try broker.control(["await_startup", "--timeout", "60"])
                    break
                } catch {
                    guard server.isRunning, ContinuousClock.now < deadline else { throw error }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
        } catch {
            broker.shutdown()
            throw Failure(description: "rabbitmq-server did not start (logs in \(directory)/log): \(error)")
        }
        atexit { RabbitMQBroker.instanceForExit.withLock { $0 }?.shutdown() }
        instanceForExit.withLock { $0 = broker }
        return broker
    }

    private static let instanceForExit = Mutex<RabbitMQBroker?>(nil)

    /// Runs `rabbitmqctl -n <node> <arguments>`; returns its output.
    @discardableResult
    public func control(_ arguments: [String]) throws -> String {
        try Self.run(Self.controlBinary, ["-n", nodeName] + arguments, environment: environment)
    }

    /// Restarts the RabbitMQ application inside the node: every connection drops, durable
    /// queues and persistent messages survive.
    public func restart() async throws {
        try control(["stop_app"])
        try control(["start_app"])
        try control(["await_startup", "--timeout", "60"])
    }

    /// Closes every client connection, as an operator would.
    public func closeAllConnections() throws {
        try control(["close_all_connections", "test: connections closed by the harness"])
    }

    /// Suspends the broker's Erlang VM (SIGSTOP): its sockets stay open but it sends and
    /// answers nothing, heartbeats included — a silent peer. Undo with ``thaw()``.
    public func freeze() throws {
        try signalNode(SIGSTOP)
    }

    /// Resumes a broker suspended by ``freeze()`` (SIGCONT).
    public func thaw() throws {
        try signalNode(SIGCONT)
    }

    private func signalNode(_ signal: Int32) throws {
        guard let text = try? String(contentsOfFile: "\(directory)/broker.pid", encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, signal) == 0 else {
            throw Failure(description: "could not signal the broker VM (pid file \(directory)/broker.pid)")
        }
    }

    /// Creates a user with full rights on `/`.
    public func addUser(_ name: String, password: String) throws {
        _ = try? control(["delete_user", name])
        try control(["add_user", name, password])
        try control(["set_permissions", "-p", "/", name, ".*", ".*", ".*"])
    }

    /// Stops the node and removes its directory.
    public func shutdown() {
        _ = try? control(["stop", "--idle-timeout", "20"])
        if let pid = try? String(contentsOfFile: "\(directory)/broker.pid", encoding: .utf8), let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(number, SIGKILL)
        }
        kill(wrapperPID, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Kills brokers of earlier test processes that died without stopping them.
    private static func killLeftovers() {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: "/tmp") else { return }
        for entry in entries where entry.hasPrefix("clusterkit-rabbitmq-") {
            let directory = "/tmp/\(entry)"
            guard let owner = try? String(contentsOfFile: "\(directory)/owner", encoding: .utf8), let ownerPID = Int32(owner) else { continue }
            if kill(ownerPID, 0) == 0 { continue }  // its test process still runs
            if let pid = try? String(contentsOfFile: "\(directory)/broker.pid", encoding: .utf8), let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(number, SIGKILL)
            }
            try? fm.removeItem(atPath: directory)
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(text.suffix(800))")
        }
        return text
    }
}
