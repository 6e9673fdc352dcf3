import SiteSyncModel
import Synchronization
import Testing

@Suite("Group commit")
struct GroupCommitTests {
    @Test("requests that arrive while a batch runs form the next batch, and each gets its own answer")
    func oneStage() async throws {
        let gate = Gate()
        let queue = GroupCommit<Int, Int> { requests in
            await gate.pass()
            return requests.map { $0 < 0 ? .failure(Negative()) : .success($0 * 10) }
        }
        let answers = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            group.addTask { (1, try await queue.submit(1)) }
            await gate.waitForArrivals(1)
            for n in [2, 3, -4] {
                group.addTask { (n, try? await queue.submit(n)) }
            }
            // The first batch holds 1 alone; the other three wait for it to finish and then share one batch.
            while await queue.queued < 3 { await Task.yield() }
            await gate.openAll()
            var all: [Int: Int?] = [:]
            for try await (n, answer) in group { all[n] = answer }
            return all
        }
        #expect(answers == [1: 10, 2: 20, 3: 30, -4: nil])
        #expect(await queue.batches == 2)
        #expect(await queue.requests == 4)
    }

    @Test("in two stages, the next batch fills while the one before finishes, rests finish in order, and a first stage is never two batches ahead")
    func twoStages() async throws {
        let log = Log()
        let restGate = Gate()
        let queue = GroupCommit<Int, Int>(first: { requests in
            log.add("first \(requests)")
            return {
                await restGate.pass()
                log.add("rest \(requests)")
                return requests.map { .success($0) }
            }
        })
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await queue.submit(1) }
            // Batch [1] is filled and its rest waits at the gate.
            await restGate.waitForArrivals(1)
            group.addTask { try await queue.submit(2) }
            // Batch [2] fills while [1]'s rest is still running...
            while !log.entries.contains("first [2]") { await Task.yield() }
            group.addTask { try await queue.submit(3) }
            // ...but [3] does not start filling before [1]'s rest is done: that would be two batches ahead.
            while await queue.queued < 1 { await Task.yield() }
            try await Task.sleep(for: .milliseconds(50))
            #expect(!log.entries.contains("first [3]"))
            await restGate.openAll()
            var answers: Set<Int> = []
            for try await answer in group { answers.insert(answer) }
            #expect(answers == [1, 2, 3])
        }
        let rests = log.entries.filter { $0.hasPrefix("rest") }
        #expect(rests == ["rest [1]", "rest [2]", "rest [3]"])
        let entries = log.entries
        let firstThree = try #require(entries.firstIndex(of: "first [3]"))
        let restOne = try #require(entries.firstIndex(of: "rest [1]"))
        #expect(restOne < firstThree)
    }
}

struct Negative: Error {}

/// Holds callers until opened; counts who arrived.
actor Gate {
    var arrivals = 0
    var open = false
    var waiting: [CheckedContinuation<Void, Never>] = []

    func pass() async {
        arrivals += 1
        if open { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func waitForArrivals(_ n: Int) async {
        while arrivals < n { await Task.yield() }
    }

    func openAll() {
        open = true
        waiting.forEach { $0.resume() }
        waiting = []
    }
}

final class Log: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var entries: [String] { lines.withLock { $0 } }
}
