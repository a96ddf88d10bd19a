import ClusterKit
import Synchronization

/// Fails the case with `message` unless `condition` holds.
public func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(ConformanceFailure) {
    if !condition { throw ConformanceFailure(message()) }
}

/// Fails the case unless `actual == expected`, saying both.
public func checkEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: @autoclosure () -> String) throws(ConformanceFailure) {
    if actual != expected {
        throw ConformanceFailure("\(what()): expected \(expected), got \(actual)")
    }
}

/// Fails the case unless `body` throws an error of type `E` accepted by `matches`.
public func checkThrows<E: Error, T>(
    _ errorType: E.Type,
    _ what: @autoclosure () -> String,
    where matches: (E) -> Bool = { _ in true },
    _ body: () async throws -> T
) async throws {
    do {
        let value = try await body()
        throw ConformanceFailure("\(what()): expected an error of type \(E.self), got a result: \(value)")
    } catch let error as ConformanceFailure {
        throw error
    } catch let error as E where matches(error) {
        return
    } catch {
        throw ConformanceFailure("\(what()): expected a matching \(E.self), got \(type(of: error)): \(error)")
    }
}

/// Waits until `condition` is true, asking every `interval`; fails after `timeout`.
public func eventually(
    _ what: @autoclosure () -> String,
    timeout: Duration = .seconds(5),
    interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw ConformanceFailure("\(what()): not true within \(timeout)") }
        try await Task.sleep(for: interval)
    }
}

/// Collects values from concurrent tasks (handlers, subscribers) for later checks.
public final class Collector<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    public init() {}
    public func append(_ value: Value) { storage.withLock { $0.append(value) } }
    public var values: [Value] { storage.withLock { $0 } }
    public var count: Int { storage.withLock { $0.count } }
}
