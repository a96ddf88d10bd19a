import Foundation

/// Runs a blocking call (a C loop, a pipe read) on a new thread, never on Swift's
/// cooperative pool, and resumes the caller with its result.
enum OffPoolThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
