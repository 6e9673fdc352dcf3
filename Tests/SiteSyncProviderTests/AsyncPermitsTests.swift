import Foundation
import SiteSyncProviders
import Synchronization
import Testing

@Suite("Async permits")
struct AsyncPermitsTests {
    /// How many bodies run now, and the most that ran at once.
    final class Gauge: Sendable {
        let state = Mutex((now: 0, most: 0))
        func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
    }

    @Test("no more than the permits run at once, every waiter gets its turn, and all permits come back")
    func boundsConcurrency() async throws {
        let permits = AsyncPermits(3)
        let running = Gauge()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await permits.withPermit {
                        running.enter()
                        try await Task.sleep(for: .milliseconds(5))
                        running.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(running.most == 3)
        #expect(await permits.available == 3)
    }

    @Test("a waiter whose task is cancelled stops waiting, and a body that throws gives its permit back")
    func cancelledWaiterAndThrowingBody() async throws {
        let permits = AsyncPermits(1)
        let holder = Task { try await permits.withPermit { try await Task.sleep(for: .seconds(30)) } }
        while await permits.available > 0 { try await Task.sleep(for: .milliseconds(1)) }
        let waiter = Task { try await permits.withPermit { "ran" } }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        holder.cancel()
        _ = try? await holder.value
        #expect(await permits.available == 1)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await permits.withPermit { throw Boom() } }
        #expect(await permits.available == 1)
    }
}
