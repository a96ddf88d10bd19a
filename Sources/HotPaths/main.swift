// clusterkit-hotpaths NAME ITERATIONS: runs one hot path (HotPath.swift) ITERATIONS times,
// for `make bench-check` (scripts/bench-check.py), which counts its instructions and
// mallocs under callgrind. `clusterkit-hotpaths --list` prints the names.
import Foundation

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--list" {
    for path in HotPath.all { print(path.name) }
    exit(0)
}
guard arguments.count == 2, let path = HotPath.all.first(where: { $0.name == arguments.first }), let iterations = Int(arguments.last!), iterations >= 0 else {
    FileHandle.standardError.write(Data("usage: clusterkit-hotpaths --list | NAME ITERATIONS (names: \(HotPath.all.map(\.name).joined(separator: ", ")))\n".utf8))
    exit(2)
}
let result = try await path.run(iterations)
// Printed so the loop's result is used.
print("\(path.name) \(iterations) \(result)")
