@testable import ClusterKit
import Synchronization
import Testing

/// `HandlerWorkers`, the handler-worker bookkeeping both native queue consumers keep in their
/// lock: first as a state machine driven step by step (deterministic: the interleaving a
/// seeded generator picks; parked workers are stand-in tasks suspended on continuations),
/// then with real worker tasks, used the way the consumers use it.
@Suite("HandlerWorkers")
struct HandlerWorkersTests {
    typealias Workers = HandlerWorkers

    /// A continuation of a stand-in task (which ends once it is resumed).
    static func waiter() async -> Workers.Waiter {
        final class Slot: Sendable { let waiter = Mutex<Workers.Waiter?>(nil) }
        let slot = Slot()
        Task { _ = await withUnsafeContinuation { (waiter: Workers.Waiter) in slot.waiter.withLock { $0 = waiter } } }
        while true {
            if let waiter = slot.waiter.withLock({ $0 }) { return waiter }
            await Task.yield()
        }
    }

    // MARK: The state machine, step by step

    /// A consumer and its workers as plain values: every step is one lock section of the
    /// real consumers (jobs added, a worker arriving, a handler returning, a run timing
    /// out, a parked worker resumed).
    struct Model {
        /// `resuming`: handed back by `wake()`, not resumed yet.
        enum Phase: Equatable { case resuming, onItsWay, running(job: Int), parked, ended }
        var workers: Workers
        var list: [Int] = []
        var phase: [Int: Phase] = [:]
        var started: [Int] = []
        var nextJob = 0
        /// Workers whose waiter `wake()` handed back, to be resumed (by a later step).
        var resumable: [(worker: Int, waiter: Workers.Waiter)] = []
        /// Waiters made ahead for the next parks (making one takes a suspension).
        var spare: [Workers.Waiter] = []
        var mostAlive = 0
        var mostRunning = 0

        init(limit: Int) { workers = Workers(limit: limit) }

        var running: [Int] { phase.filter { if case .running = $0.value { return true } else { return false } }.map(\.key) }

        mutating func apply(_ wake: Workers.Wake) {
            switch wake {
            case .none: break
            case .resume(let worker, let waiter):
                phase[worker] = .resuming
                resumable.append((worker, waiter))
            case .spawn(let spawn): phase[spawn.worker] = .onItsWay
            }
            check()
        }

        mutating func add(_ count: Int) {
            for _ in 0..<count {
                list.append(nextJob)
                nextJob += 1
            }
            apply(workers.wake())
        }

        /// Takes the list's head (and wakes the next worker while jobs remain), or parks.
        mutating func takeOrPark(_ worker: Int) {
            if !list.isEmpty {
                let job = list.removeFirst()
                started.append(job)
                phase[worker] = .running(job: job)
                if !list.isEmpty { apply(workers.wake()) }
            } else {
                switch workers.park(worker, spare.removeLast(), unless: !list.isEmpty) {
                case nil: phase[worker] = .parked
                case true?: Issue.record("park found work the step did not")
                case false?: phase[worker] = .ended
                }
            }
            check()
        }

        mutating func arrive(_ worker: Int) {
            guard workers.arrived(worker) else {
                phase[worker] = .ended
                return check()
            }
            takeOrPark(worker)
        }

        mutating func finish(_ worker: Int) {
            guard workers.finished(worker) else {
                phase[worker] = .ended
                if !list.isEmpty { apply(workers.wake()) }
                return check()
            }
            takeOrPark(worker)
        }

        mutating func resumeFirst() {
            let (worker, waiter) = resumable.removeFirst()
            waiter.resume(returning: true)
            phase[worker] = .onItsWay
        }

        mutating func refill() async {
            while spare.count < 2 { spare.append(await HandlerWorkersTests.waiter()) }
        }

        /// Ends the test: closes the pool and resumes every waiter left.
        mutating func closeAll() {
            for waiter in workers.close() { waiter.resume(returning: false) }
            for (_, waiter) in resumable { waiter.resume(returning: false) }
            for waiter in spare { waiter.resume(returning: false) }
            resumable.removeAll()
            spare.removeAll()
        }

        mutating func check() {
            let alive = phase.values.filter { $0 != .ended }.count
            mostAlive = max(mostAlive, alive)
            mostRunning = max(mostRunning, running.count)
            #expect(workers.live == alive, "the pool's count \(workers.live) is not the workers alive \(alive)")
            #expect(workers.live <= workers.limit)
            #expect(workers.parkedCount == phase.values.filter { $0 == .parked }.count)
            // No job waits while a worker sleeps: one is on its way, or every worker is alive
            // and none is parked (one that is busy takes the job when its handler returns).
            if !list.isEmpty, !workers.closed {
                #expect(workers.onItsWay != nil || (workers.live == workers.limit && workers.parkedCount == 0),
                        "jobs \(list) wait, nobody on the way, \(workers.live) alive, \(workers.parkedCount) parked")
            }
        }
    }

    /// A deterministic generator (SplitMix64), so that every run takes the same steps.
    struct Steps {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    @Test(arguments: [1, 2, 4, 32])
    func underBurstsNoMoreThanTheLimitAreAliveEveryJobStartsOnceInOrderAndNoJobWaitsForASleepingWorker(limit: Int) async {
        var model = Model(limit: limit)
        var steps = Steps(state: UInt64(limit) * 7919)
        for _ in 0..<8_000 {
            await model.refill()
            switch steps.next(10) {
            case 0, 1:
                if model.nextJob < 2_000 { model.add(1 + steps.next(limit * 3)) }
            case 2:
                if !model.resumable.isEmpty { model.resumeFirst() }
            case 3, 4:
                let arriving = model.phase.filter { $0.value == .onItsWay }.map(\.key).sorted()
                if !arriving.isEmpty { model.arrive(arriving[steps.next(arriving.count)]) }
            default:
                let running = model.running.sorted()
                if !running.isEmpty { model.finish(running[steps.next(running.count)]) }
            }
        }
        // Let everything run out.
        while model.phase.values.contains(where: { $0 != .parked && $0 != .ended }) {
            await model.refill()
            if !model.resumable.isEmpty { model.resumeFirst() }
            if let worker = model.phase.first(where: { $0.value == .onItsWay })?.key { model.arrive(worker) }
            if let worker = model.running.first { model.finish(worker) }
        }
        #expect(model.list.isEmpty, "left behind: \(model.list)")
        #expect(model.started == Array(0..<model.nextJob), "jobs started out of order or not once each")
        #expect(model.mostAlive <= limit && model.mostRunning <= limit)
        #expect(limit == 1 || model.mostAlive > 1, "the bursts never used more than one worker")
        #expect(model.nextJob > 500)
        model.closeAll()
    }

    @Test func aWorkerWhoseHandlerReturnsTakesTheNextJobWithoutParkingOrAWakeUp() async {
        var model = Model(limit: 4)
        await model.refill()
        model.add(10)
        guard case .onItsWay? = model.phase[0] else {
            Issue.record("no worker was started for the first job")
            return
        }
        model.arrive(0)
        // It woke a second one for the jobs left; that one has not arrived yet.
        #expect(model.workers.onItsWay == 1 && model.workers.live == 2)
        for _ in 0..<9 { model.finish(0) }
        #expect(model.started == Array(0..<10), "worker 0 did not run the jobs in order")
        #expect(model.workers.live == 2 && model.workers.parkedCount == 0)
        // The second one finds the list empty and parks.
        model.arrive(1)
        #expect(model.phase[1] == .parked)
        model.finish(0)
        #expect(model.phase[0] == .parked && model.workers.parkedCount == 2)
        model.closeAll()
    }

    @Test func aDoomedWorkerEndsWhenItsHandlerReturnsAndItsPlaceGoesToANewWorker() async {
        var model = Model(limit: 1)
        await model.refill()
        model.add(3)
        model.arrive(0)
        #expect(model.phase[0] == .running(job: 0))
        // Its task is not filed yet: doom returns none, and the filing says to cancel it.
        #expect(model.workers.doom(0) == nil)
        let first = Task<Void, Never> {}
        #expect(model.workers.file(first, for: .init(worker: 0, generation: 1)) == true, "a doomed worker's task was not to be cancelled")
        #expect(model.workers.isDoomed(0))
        // Doomed: it holds its place until the handler returns; nobody else starts meanwhile.
        #expect(model.workers.live == 1)
        model.add(0)
        #expect(model.workers.onItsWay == nil)
        model.finish(0)
        #expect(model.phase[0] == .onItsWay, "no new worker started for the jobs left")
        #expect(!model.workers.isDoomed(0) && model.workers.live == 1)
        // A late filing of the ended worker's task goes nowhere, not under the new worker.
        #expect(model.workers.file(first, for: .init(worker: 0, generation: 1)) == false)
        #expect(!model.workers.isDoomed(0))
        model.arrive(0)
        #expect(model.started == [0, 1] && model.phase[0] == .running(job: 1))
        model.closeAll()
    }

    @Test func closingEndsParkedWorkersAtOnceAndBusyOnesWhenTheirHandlerReturns() async {
        var model = Model(limit: 3)
        await model.refill()
        model.add(3)
        model.arrive(0)
        model.arrive(1)
        model.arrive(2)
        model.finish(0)
        model.finish(1)
        #expect(model.workers.parkedCount == 2 && model.workers.live == 3)
        let parked = model.workers.close()
        #expect(parked.count == 2, "close did not hand back the parked workers")
        for waiter in parked { waiter.resume(returning: false) }
        #expect(model.workers.live == 1 && model.workers.parkedCount == 0)
        // Nothing starts any more: neither a new worker nor the busy one's next job.
        model.list.append(99)
        if case .none = model.workers.wake() {} else { Issue.record("a closed pool woke a worker") }
        #expect(model.workers.finished(2) == false)
        #expect(model.workers.live == 0)
        model.closeAll()
    }

    @Test func aWorkerOnItsWayWhenThePoolClosesEndsOnArrival() {
        var workers = Workers(limit: 2)
        guard case .spawn(let spawn) = workers.wake() else {
            Issue.record("no worker started")
            return
        }
        #expect(workers.close().isEmpty)
        #expect(workers.arrived(spawn.worker) == false)
        #expect(workers.live == 0 && workers.onItsWay == nil)
    }

    // MARK: With real tasks

    /// A pool used the way the consumers use it: real worker tasks that park on
    /// continuations, a job list, and handlers that suspend.
    final class Host: Sendable {
        typealias Pool = HandlerWorkers
        struct State {
            var workers: Pool
            var list: [Int] = []
            var started: [Int] = []
            var running = 0
            var mostRunning = 0
            var mostAlive = 0
            var tasks: [Task<Void, Never>] = []
        }
        enum Step {
            case run(Int)
            case park
            case end
        }
        let state: Mutex<State>
        let handler: @Sendable (Int) async -> Void

        init(limit: Int, handler: @escaping @Sendable (Int) async -> Void) {
            state = Mutex(State(workers: Pool(limit: limit)))
            self.handler = handler
        }

        func add(_ jobs: Range<Int>) {
            let wake = state.withLock { state in
                state.list += jobs
                return state.workers.wake()
            }
            launch(wake)
        }

        func launch(_ wake: Pool.Wake) {
            Pool.perform(wake, start: { worker in Task { await self.work(worker) } },
                         file: { task, spawn in
                             state.withLock { state in
                                 state.tasks.append(task)
                                 state.mostAlive = max(state.mostAlive, state.workers.live)
                                 return state.workers.file(task, for: spawn)
                             }
                         })
        }

        func take(_ state: inout State) -> (Step, Pool.Wake) {
            guard !state.list.isEmpty else { return (.park, .none) }
            let job = state.list.removeFirst()
            state.started.append(job)
            state.running += 1
            state.mostRunning = max(state.mostRunning, state.running)
            return (.run(job), state.list.isEmpty ? .none : state.workers.wake())
        }

        func work(_ worker: Int) async {
            var step = arrive(worker)
            while true {
                switch step {
                case .run(let job):
                    await handler(job)
                    let (next, wake) = state.withLock { state -> (Step, Pool.Wake) in
                        state.running -= 1
                        guard state.workers.finished(worker) else {
                            return (.end, state.list.isEmpty ? .none : state.workers.wake())
                        }
                        return take(&state)
                    }
                    launch(wake)
                    step = next
                case .park:
                    step = await Pool.parkWorker { waiter in
                        state.withLock { state in
                            let hasWork = !state.list.isEmpty
                            return state.workers.park(worker, waiter, unless: hasWork)
                        }
                    } ? arrive(worker) : .end
                case .end:
                    return
                }
            }
        }

        func arrive(_ worker: Int) -> Step {
            let (step, wake) = state.withLock { state -> (Step, Pool.Wake) in
                guard state.workers.arrived(worker) else { return (.end, .none) }
                return take(&state)
            }
            launch(wake)
            return step
        }

        func close() {
            for waiter in state.withLock({ $0.workers.close() }) { waiter.resume(returning: false) }
        }
    }

    private func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func realWorkersRunABurstWithinTheLimitAndCloseEndsThemAll() async throws {
        let host = Host(limit: 4) { _ in await Task.yield() }
        for round in 0..<20 {
            host.add(round * 50 ..< round * 50 + 50)
            try await Task.sleep(for: .milliseconds(1))
        }
        try await waitUntil("every job to run") { host.state.withLock { $0.started.count == 1_000 && $0.running == 0 } }
        try await waitUntil("the workers to park") { host.state.withLock { $0.workers.parkedCount == $0.workers.live } }
        let (started, mostRunning, mostAlive, live) = host.state.withLock { ($0.started, $0.mostRunning, $0.mostAlive, $0.workers.live) }
        #expect(started == Array(0..<1_000), "jobs started out of order or not once each")
        #expect(mostRunning <= 4 && mostAlive <= 4 && live <= 4)
        host.close()
        #expect(host.state.withLock { $0.workers.live } == 0)
        for task in host.state.withLock({ $0.tasks }) { await task.value }
    }

    @Test func withLimitOneJobsRunOneAfterTheOtherInTheirOrder() async throws {
        let overlap = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let host = Host(limit: 1) { _ in
            let now = overlap.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            try? await Task.sleep(for: .microseconds(50))
            overlap.subtract(1, ordering: .relaxed)
        }
        for start in stride(from: 0, to: 200, by: 20) { host.add(start ..< start + 20) }
        try await waitUntil("every job to run") { host.state.withLock { $0.started.count == 200 && $0.running == 0 } }
        #expect(host.state.withLock { $0.started } == Array(0..<200))
        #expect(most.load(ordering: .relaxed) == 1)
        #expect(host.state.withLock { $0.mostAlive } == 1)
        host.close()
        for task in host.state.withLock({ $0.tasks }) { await task.value }
    }

    @Test func aDoomedRealWorkerIsCancelledRunsNoOtherJobAndEnds() async throws {
        let cancelledSeen = Mutex<[Int: Bool]>([:])
        let gate = Atomic<Bool>(false)
        let host = Host(limit: 1) { job in
            if job == 0 {
                while !gate.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(1)) }
            }
            cancelledSeen.withLock { $0[job] = Task.isCancelled }
        }
        host.add(0..<3)
        try await waitUntil("the first job to start") { host.state.withLock { $0.running == 1 } }
        let task = host.state.withLock { $0.workers.doom(0) }
        try await waitUntil("the worker's task to be filed") { host.state.withLock { !$0.tasks.isEmpty } }
        (task ?? host.state.withLock { $0.tasks[0] }).cancel()
        gate.store(true, ordering: .relaxed)
        try await waitUntil("the other jobs to run") { cancelledSeen.withLock { $0.count } == 3 }
        let seen = cancelledSeen.withLock { $0 }
        #expect(seen[0] == true, "the doomed worker's handler did not see its cancellation")
        #expect(seen[1] == false && seen[2] == false, "a later job ran cancelled, on the doomed worker: \(seen)")
        let tasks = host.state.withLock { $0.tasks }
        #expect(tasks.count == 2, "the doomed worker was not replaced by a new one")
        await tasks[0].value
        host.close()
        for task in tasks { await task.value }
    }
}
