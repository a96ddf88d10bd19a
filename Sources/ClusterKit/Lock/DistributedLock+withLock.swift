extension DistributedLock {
    /// Runs `body` while holding the lock on `key`, keeping the lease alive for as long as
    /// the body runs.
    ///
    /// - Waits up to `timeout` for the lock (``acquire(_:ttl:timeout:)``; throws
    ///   ``LockError/Code/timedOut`` when it gives up).
    /// - Runs `body` in a child task next to a watchdog that extends the lease to `ttl`
    ///   every `ttl / 3`, so a body may run far longer than `ttl`; the TTL only matters if
    ///   this process dies or stalls.
    /// - If an extension returns `false` (the lease expired or was taken over) or throws,
    ///   the body's task is cancelled; once the body has finished, `withLock` throws
    ///   ``LockError/Code/leaseLost``, whatever the body returned or threw. Mutual exclusion may
    ///   have been broken at that point: protect the resource with the lease's
    ///   ``LockLease/fencingToken`` as well.
    /// - Releases the lock when the body returns and when it throws. The release runs even
    ///   when the calling task is cancelled (it is shielded from cancellation).
    ///   A release that fails never replaces the body's error; after a successful body a
    ///   failed release is ignored (the TTL frees the lock), but a release that reports the
    ///   lease was no longer held throws ``LockError/Code/leaseLost``: the body ran without
    ///   holding the lock throughout.
    /// - Cancelling the calling task cancels the body (and the watchdog), waits for the
    ///   body to finish, releases the lock and rethrows what the body threw.
    public func withLock<T: Sendable>(
        _ key: String,
        ttl: Duration = .seconds(30),
        timeout: Duration = .seconds(30),
        _ body: @Sendable (LockLease) async throws -> T
    ) async throws -> T {
        let lease = try await acquire(key, ttl: ttl, timeout: timeout)
        let outcome = await withoutActuallyEscaping(body) { escapableBody in
            await runGuarded(lease, ttl: ttl, escapableBody)
        }
        // Shield the release from the caller's cancellation: an unstructured task does not
        // inherit it, and a cancelled network call would leave the lock held until its TTL.
        let released: Result<Bool, any Error> = await Task { [self] in
            do { return .success(try await self.release(lease)) } catch { return .failure(error) }
        }.value
        switch outcome {
        case .leaseLost:
            throw LockError.leaseLost(lease)
        case .body(.failure(let error)):
            throw error
        case .body(.success(let value)):
            if case .success(false) = released { throw LockError.leaseLost(lease) }
            return value
        }
    }

    private func runGuarded<T: Sendable>(
        _ lease: LockLease,
        ttl: Duration,
        _ body: @escaping @Sendable (LockLease) async throws -> T
    ) async -> GuardedOutcome<T> {
        await withTaskGroup(of: GuardedEvent<T>.self) { group in
            group.addTask {
                do { return .body(.success(try await body(lease))) } catch { return .body(.failure(error)) }
            }
            group.addTask { [self] in
                await self.keepAlive(lease, ttl: ttl) ? .watchdogStopped : .leaseLost
            }
            var leaseLost = false
            var bodyResult: Result<T, any Error>?
            while let event = await group.next() {
                switch event {
                case .body(let result):
                    bodyResult = result
                    group.cancelAll() // stops the watchdog
                case .leaseLost:
                    leaseLost = true
                    group.cancelAll() // cancels the body; keep waiting for it to finish
                case .watchdogStopped:
                    break
                }
            }
            if leaseLost { return .leaseLost }
            guard let bodyResult else {
                // Unreachable: the group only ends after the body's task has reported.
                return .body(.failure(CancellationError()))
            }
            return .body(bodyResult)
        }
    }

    /// Extends `lease` every `ttl / 3` until cancelled. Returns `true` when stopped by
    /// cancellation, `false` as soon as an extension is refused or fails.
    private func keepAlive(_ lease: LockLease, ttl: Duration) async -> Bool {
        let interval = ttl / 3
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return true
            }
            do {
                if try await extend(lease, ttl: ttl) == false { return false }
            } catch {
                // An extension interrupted by our own cancellation is not a lost lease.
                return Task.isCancelled
            }
        }
    }
}

private enum GuardedEvent<T: Sendable>: Sendable {
    case body(Result<T, any Error>)
    case leaseLost
    case watchdogStopped
}

private enum GuardedOutcome<T: Sendable>: Sendable {
    case body(Result<T, any Error>)
    case leaseLost
}
