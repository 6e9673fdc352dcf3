import Foundation

/// Runs `body`, but gives up after `seconds` with the error `late` makes; the caller is never held by work that
/// ignores cancellation (a connection attempt inside a C library, a server that accepted and never answers),
/// which a task group would wait for. The abandoned work is cancelled and left to end on its own.
public func withDeadline<T: Sendable>(_ seconds: Double, late: @escaping @Sendable () -> any Error,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = Once<Result<T, any Error>>()
    let work = Task {
        do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
    }
    let timer = Task {
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
        once.resume(.failure(late()))
    }
    let result = await withTaskCancellationHandler {
        await once.value()
    } onCancel: {
        once.resume(.failure(CancellationError()))
    }
    work.cancel()
    timer.cancel()
    return try result.get()
}
