import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Blocking file work for transfers, run on threads of its own so a large copy never holds one of the few threads
/// of Swift's cooperative pool (two on a two-core machine).
public enum BlockingIO {
    /// Threads that only ever run blocking file work. Not Dispatch's: its shared pool runs about as many jobs at
    /// once as there are cores, so copies sleeping under a bandwidth limit, or waiting on a slow disk, would hold
    /// up every other transfer and whatever else runs on Dispatch (process pipes). Enough for the small files a
    /// server keeps in flight.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 64)
        pool.start()
        return pool
    }()

    /// Runs `body` on a blocking-I/O thread. Task cancellation sets the flag `body` polls between chunks.
    public static func run<T: Sendable>(_ body: @escaping @Sendable (CancellationFlag) throws -> T) async throws -> T {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            // Always run, even for a task already cancelled: clean-up (removing a temporary file) goes through
            // here too, and `body` sees the cancellation through its flag.
            try await withCheckedThrowingContinuation { continuation in
                pool.submit { state in
                    guard case .active = state else {
                        continuation.resume(throwing: ProviderError(.cancelled, "shutting down"))
                        return
                    }
                    continuation.resume(with: Result { try body(flag) })
                }
            }
        } onCancel: {
            flag.cancel()
        }
    }
}

public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    public init() {}
    public func cancel() { lock.withLock { cancelled = true } }
    public var isCancelled: Bool { lock.withLock { cancelled } }
    public func check() throws {
        if isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
    }
}

/// Keeps one transfer under a site's `bandwidth_limit`: how long to wait after `bytes` have moved.
public struct Throttle: Sendable {
    let bytesPerSecond: Int64?
    let started = DispatchTime.now().uptimeNanoseconds

    public init(_ bytesPerSecond: Int64?) {
        self.bytesPerSecond = bytesPerSecond
    }

    /// Nanoseconds to wait so that `bytes` moved since the start stay under the limit; 0 when there is none.
    public func delay(after bytes: Int64) -> UInt64 {
        guard let limit = bytesPerSecond, limit > 0, bytes > 0 else { return 0 }
        let due = UInt64(Double(bytes) / Double(limit) * 1e9)
        let elapsed = DispatchTime.now().uptimeNanoseconds - started
        return due > elapsed ? due - elapsed : 0
    }
}
