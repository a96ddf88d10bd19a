import ClusterKit
import Foundation
import Testing

@Suite("DedicatedThreadExecutor")
struct DedicatedThreadExecutorTests {
    actor Pinned {
        nonisolated let executor = DedicatedThreadExecutor(name: "pinned-test")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        var log: [Int] = []

        func record(_ value: Int) -> Bool {
            log.append(value)
            return executor.isCurrentThread
        }
    }

    @Test("actor methods run on the dedicated thread, in order, never on the cooperative pool")
    func runsOnItsThread() async {
        let pinned = Pinned()
        for value in 0..<100 {
            #expect(await pinned.record(value), "job \(value) ran off the dedicated thread")
        }
        #expect(await pinned.log == Array(0..<100))
        pinned.executor.shutdown()
    }

    @Test("concurrent callers are serialised: no lost updates")
    func serialises() async {
        let pinned = Pinned()
        await withTaskGroup(of: Void.self) { group in
            for value in 0..<1000 { group.addTask { _ = await pinned.record(value) } }
        }
        #expect(await pinned.log.count == 1000)
        #expect(Set(await pinned.log).count == 1000)
        pinned.executor.shutdown()
    }

    @Test("work enqueued after shutdown still runs (a sleep that outlives close must resume)", .timeLimit(.minutes(1)))
    func runsAfterShutdown() async throws {
        let pinned = Pinned()
        #expect(await pinned.record(1))
        pinned.executor.shutdown()
        try await Task.sleep(for: .milliseconds(50))   // let the drained thread exit
        #expect(await pinned.record(2), "resumed off the dedicated thread")
        #expect(await pinned.log == [1, 2])
        pinned.executor.shutdown()
    }
}
