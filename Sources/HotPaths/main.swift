// clusterkit-hotpaths: the hot paths of HotPath.swift, for `make bench-check`.
//
//   clusterkit-hotpaths --list                 the names
//   clusterkit-hotpaths --measure [NAME…]      one JSON line per path: allocations and
//                                              nanoseconds per operation
//   clusterkit-hotpaths NAME ITERATIONS        just run one path (for a profiler)
//   clusterkit-hotpaths NAME ITERATIONS URL    just run one server path (ServerHotPath.swift)
//                                              against the server at URL (for a profiler)
//
// --measure runs each path at 2,000 and at 12,000 iterations and divides the difference of
// the two runs' allocation calls (counted by CMallocCounter, the whole process) by 10,000:
// set-up cancels out. Allocation counts do not depend on machine load; the nanoseconds are
// informational only.
//
// Synchronous top-level code: the work runs in a task while the main thread waits on a
// semaphore (an async top level parks the main thread in `dispatch_main`, which valgrind
// 3.19 does not survive).
import CMallocCounter
import Foundation
import Synchronization

struct Measurement: Encodable {
    var name: String
    var allocationsPerOperation: Double
    var nanosecondsPerOperation: Double
}

func measure(_ path: HotPath) async throws -> Measurement {
    func counted(_ iterations: Int) async throws -> (allocations: UInt64, nanoseconds: UInt64) {
        let allocations = ck_allocation_count()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try await path.run(iterations)
        return (ck_allocation_count() - allocations, DispatchTime.now().uptimeNanoseconds - start)
    }
    let (small, large) = (2_000, 12_000)
    _ = try await counted(small)  // warm-up: lazily initialised runtime and library state
    let first = try await counted(small)
    let second = try await counted(large)
    let operations = Double(large - small)
    return Measurement(name: path.name,
                       allocationsPerOperation: (Double(second.allocations) - Double(first.allocations)) / operations,
                       nanosecondsPerOperation: (Double(second.nanoseconds) - Double(first.nanoseconds)) / operations)
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("clusterkit-hotpaths: \(message)\n".utf8))
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let usage = "usage: clusterkit-hotpaths --list | --measure [NAME…] | NAME ITERATIONS [URL] (names: \(HotPath.all.map(\.name).joined(separator: ", ")); with a server URL: \(ServerHotPath.all.map(\.name).joined(separator: ", ")))"
let work: @Sendable () async throws -> [String]
switch arguments.first {
case "--list":
    work = { HotPath.all.map(\.name) }
case "--measure":
    let names = Set(arguments.dropFirst())
    let paths = names.isEmpty ? HotPath.all : HotPath.all.filter { names.contains($0.name) }
    guard paths.count == max(names.count, paths.count), !paths.isEmpty else { fail(usage, status: 2) }
    work = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var lines: [String] = []
        for path in paths { lines.append(String(decoding: try encoder.encode(try await measure(path)), as: UTF8.self)) }
        return lines
    }
case let name? where arguments.count == 3:
    guard let path = ServerHotPath.all.first(where: { $0.name == name }), let iterations = Int(arguments[1]), iterations >= 0 else {
        fail(usage, status: 2)
    }
    let url = arguments[2]
    work = { ["\(path.name) \(iterations) \(try await path.run(url, iterations))"] }
default:
    guard arguments.count == 2, let path = (HotPath.all + HotPath.broker).first(where: { $0.name == arguments[0] }),
          let iterations = Int(arguments[1]), iterations >= 0 else { fail(usage, status: 2) }
    // The result is printed so the loop's work is used.
    work = { ["\(path.name) \(iterations) \(try await path.run(iterations))"] }
}

let outcome = Mutex<Result<[String], any Error>?>(nil)
let finished = DispatchSemaphore(value: 0)
// Detached: top-level code is main-actor isolated, and a plain Task would wait for the main
// thread, which is blocked on the semaphore.
Task.detached {
    let result: Result<[String], any Error>
    do { result = .success(try await work()) } catch { result = .failure(error) }
    outcome.withLock { $0 = result }
    finished.signal()
}
finished.wait()
switch outcome.withLock({ $0 })! {
case .success(let lines):
    for line in lines { print(line) }
    exit(0)
case .failure(let error):
    fail("\(error)", status: 1)
}
