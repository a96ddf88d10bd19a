// clusterkit-hotpaths NAME ITERATIONS: runs one hot path (HotPath.swift) ITERATIONS times,
// for `make bench-check` (scripts/bench-check.py), which counts its instructions and
// mallocs under callgrind. `clusterkit-hotpaths --list` prints the names.
//
// Synchronous top-level code: the path runs in a task while the main thread waits on a
// semaphore and then exits. (With an async top-level, the main thread parks in
// `dispatch_main`, and valgrind 3.19's callgrind crashes when that thread goes away.)
import Foundation
import Synchronization

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--list" {
    for path in HotPath.all { print(path.name) }
    exit(0)
}
guard arguments.count == 2, let path = HotPath.all.first(where: { $0.name == arguments[0] }), let iterations = Int(arguments[1]), iterations >= 0 else {
    FileHandle.standardError.write(Data("usage: clusterkit-hotpaths --list | NAME ITERATIONS (names: \(HotPath.all.map(\.name).joined(separator: ", ")))\n".utf8))
    exit(2)
}
let outcome = Mutex<Result<Int, any Error>?>(nil)
let finished = DispatchSemaphore(value: 0)
Task {
    let result: Result<Int, any Error>
    do { result = .success(try await path.run(iterations)) } catch { result = .failure(error) }
    outcome.withLock { $0 = result }
    finished.signal()
}
finished.wait()
switch outcome.withLock({ $0 })! {
case .success(let result):
    // Printed so the loop's result is used.
    print("\(path.name) \(iterations) \(result)")
    exit(0)
case .failure(let error):
    FileHandle.standardError.write(Data("clusterkit-hotpaths: \(path.name): \(error)\n".utf8))
    exit(1)
}
