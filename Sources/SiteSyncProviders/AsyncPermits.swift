/// At most `count` holders at once; the others wait their turn, in order. A waiter whose task is cancelled stops
/// waiting and throws `CancellationError`. Bounds what many tasks in flight hold at once (a provider's small
/// uploads each hold their file's bytes while their request waits for one of the pool's connections).
public actor AsyncPermits {
    private var free: Int
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextID: UInt64 = 0

    public init(_ count: Int) {
        free = max(1, count)
    }

    /// Runs `body` holding a permit.
    public func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    func acquire() async throws {
        try Task.checkCancellation()
        if free > 0 {
            free -= 1
            return
        }
        nextID += 1
        let id = nextID
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                waiters.append((id, continuation))
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            // The permit passes straight to the first waiter.
            waiters.removeFirst().continuation.resume()
        }
    }

    func cancel(_ id: UInt64) {
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: i).continuation.resume(throwing: CancellationError())
    }

    /// Permits not held now (for tests).
    public var available: Int { free }
}
