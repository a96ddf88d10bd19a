import Foundation
import Synchronization

/// A private `redis-server` for tests: started on a free loopback port (`127.0.0.1`) with
/// its own temporary data directory, so tests can kill, freeze and restart it without
/// disturbing anything else.
///
/// ```swift
/// let server = try await RedisServer.start(.init(password: "s3cret", appendOnly: true))
/// let url = server.url(database: 2)          // redis://:s3cret@127.0.0.1:<port>/2
/// try await server.kill()                    // SIGKILL, like a crash
/// try await server.restart()                 // same port, same data directory
/// await server.stop()                        // stops it and deletes the directory
/// ```
///
/// - The server runs with `--bind 127.0.0.1 --port <free port> --dir <temp dir>` and no
///   RDB snapshots (`--save ""`) unless ``Options/snapshots`` is set; with
///   ``Options/appendOnly`` every write is fsynced to the AOF (`appendfsync always`) so a
///   SIGKILL loses nothing acknowledged.
/// - ``start(_:)`` returns once the server answers `PING` (or `NOAUTH`), or throws
///   ``RedisServerError`` — also when `redis-server` is not installed, with the command to
///   install it. Tests never skip for a missing server.
/// - A small guardian shell process kills the server and deletes its directory if the test
///   process dies without calling ``stop()``.
/// - ``shared()`` is one lazily started server for the whole test run: tests that only need
///   *a* server use it with their own `APP_NAME` or database; tests that kill or freeze
///   the server start their own.
public final class RedisServer: Sendable {
    public struct Options: Sendable, Hashable {
        /// `--requirepass`; `nil` for no password.
        public var password: String?
        /// Append-only file with `appendfsync always`.
        public var appendOnly: Bool
        /// Keep Redis's default RDB snapshot schedule instead of `--save ""`.
        public var snapshots: Bool

        public init(password: String? = nil, appendOnly: Bool = false, snapshots: Bool = false) {
            self.password = password
            self.appendOnly = appendOnly
            self.snapshots = snapshots
        }
    }

    public let options: Options
    /// The loopback port the server listens on (kept across restarts).
    public let port: Int
    /// The server's data directory (AOF, RDB, log), deleted by ``stop()``.
    public let directory: URL
    public var host: String { "127.0.0.1" }

    private struct State {
        var process: Process?
        var guardian: Process?
        var stopped = false
    }

    private let state = Mutex(State())

    private init(options: Options, port: Int, directory: URL) {
        self.options = options
        self.port = port
        self.directory = directory
    }

    // MARK: Lifecycle

    /// Starts a server and waits until it answers.
    public static func start(_ options: Options = .init()) async throws -> RedisServer {
        let executable = try findExecutable()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusterkit-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = RedisServer(options: options, port: try freeLoopbackPort(), directory: directory)
        do {
            try server.launch(executable)
            try server.startGuardian()
            try await server.waitUntilReady()
        } catch {
            await server.stop()
            throw error
        }
        return server
    }

    /// One server for the whole test run, started on first use (no password, no AOF).
    public static func shared() async throws -> RedisServer {
        try await SharedServer.instance.get()
    }

    /// `redis://[:password@]127.0.0.1:<port>/<database>[?query]`.
    public func url(database: Int = 0, password: String? = nil, query: String? = nil) -> String {
        let secret = password ?? options.password
        let auth = secret.map { ":\($0)@" } ?? ""
        return "redis://\(auth)\(host):\(port)/\(database)" + (query.map { "?\($0)" } ?? "")
    }

    /// The server's process ID, `nil` when it is not running.
    public var processID: Int32? {
        state.withLock { state in state.process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    }

    /// SIGKILL, as in a crash; returns once the process is gone.
    public func kill() async throws {
        guard let process = state.withLock({ $0.process }) else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        try await waitForExit(process)
    }

    /// SIGSTOP: the server keeps its connections but answers nothing until ``resume()``.
    public func pause() {
        if let pid = processID { Glibc.kill(pid, SIGSTOP) }
    }

    /// SIGCONT after ``pause()``.
    public func resume() {
        if let pid = processID { Glibc.kill(pid, SIGCONT) }
    }

    /// Starts the server again on the same port and data directory (killing it first if it
    /// still runs) and waits until it answers. With ``Options/appendOnly`` the data is back.
    public func restart() async throws {
        try await kill()
        try launch(try Self.findExecutable())
        try await waitUntilReady()
    }

    /// Kills the server and the guardian and deletes the data directory. Idempotent.
    public func stop() async {
        let (process, guardian) = state.withLock { state in
            state.stopped = true
            return (state.process, state.guardian)
        }
        if let process, process.isRunning {
            Glibc.kill(process.processIdentifier, SIGCONT)
            Glibc.kill(process.processIdentifier, SIGKILL)
            try? await waitForExit(process)
        }
        if let guardian, guardian.isRunning { Glibc.kill(guardian.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Internals

    private func launch(_ executable: String) throws {
        var arguments = ["--bind", "127.0.0.1", "--port", "\(port)", "--dir", directory.path, "--daemonize", "no",
                         "--logfile", directory.appendingPathComponent("redis.log").path,
                         "--pidfile", directory.appendingPathComponent("redis.pid").path,
                         "--appendonly", options.appendOnly ? "yes" : "no"]
        if options.appendOnly { arguments += ["--appendfsync", "always"] }
        if !options.snapshots { arguments += ["--save", ""] }
        if let password = options.password { arguments += ["--requirepass", password] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        state.withLock { $0.process = process }
    }

    /// A shell that outlives a crashed test process just long enough to clean up.
    private func startGuardian() throws {
        let pidFile = directory.appendingPathComponent("redis.pid").path
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; "
            + "kill -9 $(cat '\(pidFile)' 2>/dev/null) 2>/dev/null; rm -rf '\(directory.path)'"
        let guardian = Process()
        guardian.executableURL = URL(fileURLWithPath: "/bin/sh")
        guardian.arguments = ["-c", script]
        guardian.standardOutput = FileHandle.nullDevice
        guardian.standardError = FileHandle.nullDevice
        try guardian.run()
        state.withLock { $0.guardian = guardian }
    }

    private func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let process = state.withLock({ $0.process }), !process.isRunning {
                throw RedisServerError("redis-server exited at startup (status \(process.terminationStatus)); see \(directory.path)/redis.log")
            }
            if let answer = Self.ping(port: port), answer.hasPrefix("+PONG") || answer.hasPrefix("-NOAUTH") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisServerError("redis-server on port \(port) did not answer PING within 15 s")
    }

    private func waitForExit(_ process: Process) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning {
            if ContinuousClock.now > deadline { throw RedisServerError("redis-server (pid \(process.processIdentifier)) did not exit within 10 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private static func findExecutable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw RedisServerError("redis-server is not installed; install it with `sudo apt-get install -y redis-server` (or `make test`, which does)")
    }

    /// Sends `PING` over a plain socket and returns the first line of the answer.
    static func ping(port: Int) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("PING\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A port nobody listens on right now: bind port 0 and read what the kernel chose.
    public static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisServerError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw RedisServerError("could not find a free loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why the test harness could not start or control `redis-server`.
public struct RedisServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The lazily started server of ``RedisServer/shared()``.
private actor SharedServer {
    static let instance = SharedServer()
    private var task: Task<RedisServer, any Error>?

    func get() async throws -> RedisServer {
        if let task { return try await task.value }
        let task = Task { try await RedisServer.start() }
        self.task = task
        return try await task.value
    }
}
