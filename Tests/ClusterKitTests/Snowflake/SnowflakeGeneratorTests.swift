import ClusterKit
import Synchronization
import Testing

/// A wall clock for generators that moves only when set or slept on.
final class SnowflakeTestClock: Sendable {
    private let state: Mutex<(now: Int64, sleeps: [Int64])>

    init(_ milliseconds: Int64) { state = Mutex((milliseconds, [])) }

    var now: Int64 { state.withLock { $0.now } }
    var sleeps: [Int64] { state.withLock { $0.sleeps } }
    func set(_ milliseconds: Int64) { state.withLock { $0.now = milliseconds } }

    func generator(_ layout: SnowflakeLayout = .nocobase, maximumClockRollback: Duration = .seconds(1),
                   workerID: @escaping @Sendable () -> Int?) -> SnowflakeGenerator {
        SnowflakeGenerator(layout: layout, workerID: workerID, now: { self.now }, maximumClockRollback: maximumClockRollback) { duration in
            let milliseconds = duration.wholeMillisecondsRoundedUp
            self.state.withLock { state in
                state.now += milliseconds
                state.sleeps.append(milliseconds)
            }
        }
    }
}

@Suite("Snowflake generator")
struct SnowflakeGeneratorTests {
    /// 100.4 s after the NocoBase epoch.
    let start: Int64 = 1_605_024_100_400

    @Test func theFirstIDWaitsForTheNextTimeUnit() async throws {
        let clock = SnowflakeTestClock(start)
        let generator = clock.generator { 3 }
        let id = try await generator.next()
        #expect(clock.sleeps == [600], "the unit in which the worker ID was first seen is skipped")
        #expect(id == 101 << 21 | 3 << 16 | 0)
        #expect(try await generator.next() == 101 << 21 | 3 << 16 | 1)
        #expect(generator.parse(id) == SnowflakeParts(timestamp: 1_605_024_101_000, workerID: 3, sequence: 0))
    }

    @Test func sixtyFiveThousandFiveHundredThirtySixIDsThenTheNextSecond() async throws {
        let clock = SnowflakeTestClock(start)
        let generator = clock.generator { 7 }
        var ids: [Int64] = []
        for _ in 0..<65_536 { ids.append(try await generator.next()) }
        #expect(clock.sleeps.count == 1)
        #expect(generator.parse(ids[0]) == SnowflakeParts(timestamp: 1_605_024_101_000, workerID: 7, sequence: 0))
        #expect(generator.parse(ids[65_535]) == SnowflakeParts(timestamp: 1_605_024_101_000, workerID: 7, sequence: 65_535))
        ids.append(try await generator.next())
        #expect(clock.sleeps == [600, 1000], "the 65,537th ID waited for the next second")
        #expect(generator.parse(ids[65_536]) == SnowflakeParts(timestamp: 1_605_024_102_000, workerID: 7, sequence: 0))
        #expect(Set(ids).count == ids.count)
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func aClockStepBackKeepsCountingInTheLastUnitThenWaits() async throws {
        let clock = SnowflakeTestClock(start)
        let generator = clock.generator { 1 }
        let first = try await generator.next()
        clock.set(clock.now - 700)
        let second = try await generator.next()
        #expect(second == first + 1, "same second, next sequence, although the clock went back 700 ms")
        #expect(clock.sleeps == [600])
    }

    @Test func aClockFarBehindFailsOnceTheSequenceIsUsedUp() async throws {
        let layout = try SnowflakeLayout.milliseconds(workerBits: 5, sequenceBits: 2)
        let clock = SnowflakeTestClock(1_700_000_000_000)
        let generator = clock.generator(layout, maximumClockRollback: .milliseconds(500)) { 4 }
        var ids = [try await generator.next()]
        clock.set(clock.now - 2_000)
        for _ in 0..<3 { ids.append(try await generator.next()) }
        let error = await #expect(throws: SnowflakeError.self) { try await generator.next() }
        #expect(error?.code == .clockMovedBackwards)
        clock.set(clock.now + 1_600)
        ids.append(try await generator.next())
        #expect(clock.sleeps.count == 2, "within the 500 ms bound the generator waited")
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func aWanderingClockNeverYieldsADuplicate() async throws {
        let layout = try SnowflakeLayout.milliseconds(workerBits: 5, sequenceBits: 3)
        let clock = SnowflakeTestClock(1_700_000_000_000)
        let generator = clock.generator(layout) { 9 }
        var seed: UInt64 = 0x5EED
        var previous = Int64.min
        var issued = 0
        var refused = 0
        // Deterministic: mostly 0-4 ms forward per call, now and then up to 1.3 s back.
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let roll = seed >> 33
            clock.set(roll % 500 == 0 ? clock.now - Int64(roll % 1_301) : clock.now + Int64(roll % 5))
            do {
                let id = try await generator.next()
                #expect(id > previous)
                previous = id
                issued += 1
            } catch let error as SnowflakeError {
                #expect(error.code == .clockMovedBackwards)
                refused += 1
            }
        }
        #expect(issued > 10_000)
        #expect(refused > 0, "the walk is meant to go back further than the 1 s bound at times")
        #expect(clock.sleeps.count > 0, "the walk is meant to make the generator wait at times")
    }

    @Test func aChangedWorkerIDStartsInALaterUnit() async throws {
        let worker = Mutex(5)
        let clock = SnowflakeTestClock(start)
        let generator = clock.generator { worker.withLock { $0 } }
        let before = try await generator.next()
        worker.withLock { $0 = 2 }
        let after = try await generator.next()
        #expect(after > before)
        #expect(generator.parse(after) == SnowflakeParts(timestamp: 1_605_024_102_000, workerID: 2, sequence: 0))
    }

    @Test func refusesWithoutAWorkerIDOrWithOneTheLayoutCannotCarry() async throws {
        let clock = SnowflakeTestClock(start)
        await #expect(throws: SnowflakeError.noWorkerID) { try await clock.generator { nil }.next() }
        await #expect(throws: SnowflakeError.workerIDOutOfRange(32, maximum: 31)) { try await clock.generator { 32 }.next() }
        let negative = await #expect(throws: SnowflakeError.self) { try await clock.generator { -1 }.next() }
        #expect(negative?.code == .workerIDOutOfRange)
    }

    @Test func refusesOutsideTheLayoutsTimeRange() async throws {
        let early = await #expect(throws: SnowflakeError.self) { try await SnowflakeTestClock(1_000).generator { 0 }.next() }
        #expect(early?.code == .timestampOverflow)
        // Timestamp units 0...3 only: the last unit is skipped as the worker's first, and
        // there is no next one.
        let tiny = try SnowflakeLayout(epochMilliseconds: 0, timeUnit: .seconds, workerBits: 1, sequenceBits: 1, totalBits: 4)
        let late = await #expect(throws: SnowflakeError.self) { try await SnowflakeTestClock(3_500).generator(tiny) { 0 }.next() }
        #expect(late?.code == .timestampOverflow)
    }

    @Test func refusesOnceTheLeaseIsReleasedOrLost() async throws {
        let backend = MemoryBackend()
        // A 3 s TTL (valid 2.7 s: no scheduler delay lapses it between the steps below); the
        // pool keeps leases for a minute, so a lease taken after a loss gets another ID.
        let allocator = ScriptedWorkerIDAllocator(backend: backend, ttl: .seconds(3), poolTTL: .seconds(60))
        let lease = WorkerIDLease(allocator: allocator)
        let layout = try SnowflakeLayout.milliseconds()
        let generator = SnowflakeGenerator(layout: layout, lease: lease)
        await #expect(throws: SnowflakeError.noWorkerID) { try await generator.next() }
        let id = try await lease.acquire()
        #expect(generator.parse(try await generator.next()).workerID == id)

        // Lost: the next renewal is refused; the re-acquisition is held at the gate, so the
        // lease stays lost while we look.
        allocator.answerRenewals(false)
        allocator.closeGate()
        let maintainer = Task { try await lease.maintain() }
        defer { maintainer.cancel() }
        try await waitUntil("the lease is lost and a new one requested") { allocator.pendingLeases == 1 }
        await #expect(throws: SnowflakeError.noWorkerID, "a lost lease must stop the generator") {
            try await generator.next()
        }
        allocator.answerRenewals(nil)
        allocator.openGate()
        try await waitUntil("a new lease") { lease.workerID != nil }
        #expect(lease.workerID == 1)
        #expect(generator.parse(try await generator.next()).workerID == 1)

        await lease.release()
        await #expect(throws: SnowflakeError.noWorkerID) { try await generator.next() }
        try await waitForWorkerIDTask(maintainer, seconds: 5)
    }

    @Test func waitsHonourCancellation() async throws {
        // A clock stuck at the start of a second: the first ID would wait forever with the
        // real Task.sleep, so only cancellation can end the call.
        let generator = SnowflakeGenerator(workerID: { 0 }, now: { 1_605_024_100_000 })
        let waiting = Task { try await generator.next() }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        try await waitForWorkerIDTask(waiting, seconds: 5)
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }

    @Test func concurrentCallersGetDistinctIncreasingIDs() async throws {
        let generator = SnowflakeGenerator(layout: try .milliseconds(), workerID: { 12 })
        let batches = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var ids: [Int64] = []
                    for _ in 0..<10_000 { ids.append(try await generator.next()) }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for batch in batches { #expect(zip(batch, batch.dropFirst()).allSatisfy { $0 < $1 }) }
        #expect(Set(batches.joined()).count == 80_000)
    }
}
