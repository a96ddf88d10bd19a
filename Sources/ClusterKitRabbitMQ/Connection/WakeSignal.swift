import Glibc

/// A one-bit wake-up between threads: ``raise()`` from any thread, ``wait(until:)`` on one
/// thread that may block (a connection's dedicated thread, never the cooperative pool).
///
/// Built on a pthread mutex and a condition on `CLOCK_MONOTONIC`; a ``ContinuousClock``
/// deadline (`CLOCK_BOOTTIME` on Linux) is converted as the time left until it. ``raise()``
/// makes a system call only when a waiter sleeps (a futex wake); a raise with nobody
/// waiting is kept until the next wait, which then returns at once. Nothing is allocated per raise or wait.
final class WakeSignal: @unchecked Sendable {
    // @unchecked Sendable is safe: `raised` is read and written only while holding `mutex`,
    // and the pthread objects are made for use from several threads (allocated once, so they
    // never move).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var raised = false

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Wakes the waiter (or the next wait, if none waits now).
    func raise() {
        pthread_mutex_lock(mutex)
        raised = true
        pthread_mutex_unlock(mutex)
        // Signalled after unlocking, so that the woken thread does not block on the mutex.
        pthread_cond_signal(condition)
    }

    /// Forgets a raise nobody waited for.
    func reset() {
        pthread_mutex_lock(mutex)
        raised = false
        pthread_mutex_unlock(mutex)
    }

    /// Blocks the calling thread until the signal is raised or `deadline` passes; clears the
    /// signal. Returns whether it was raised.
    @discardableResult
    func wait(until deadline: ContinuousClock.Instant) -> Bool {
        var until = timespec()
        clock_gettime(CLOCK_MONOTONIC, &until)
        let left = deadline - .now
        if left > .zero {
            let (seconds, attoseconds) = left.components
            let nanoseconds = Int(until.tv_nsec) + Int(attoseconds / 1_000_000_000)
            until.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
            until.tv_nsec = nanoseconds % 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !raised {
            if pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT { break }
        }
        defer { raised = false }
        return raised
    }
}
