/// Runs the requests that arrive together as one batch (group commit, as a database shares one log write among
/// the transactions that commit at once): while a batch runs, new requests wait and form the next one. Nothing
/// waits for company: a request that arrives when nothing runs starts a batch of its own at once.
public actor GroupCommit<Request: Sendable, Response: Sendable> {
    /// Performs a batch; answers one result per request, in order.
    public typealias Perform = @Sendable ([Request]) async -> [Result<Response, any Error>]
    /// The second stage of a batch (`init(first:)`): answers one result per request of its batch, in order.
    public typealias Rest = @Sendable () async -> [Result<Response, any Error>]

    struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Response, any Error>
    }

    /// Does a batch's first stage and hands back the rest.
    let first: @Sendable ([Request]) async -> Rest
    var waiting: [Waiter] = []
    var busy = false
    /// The second stage of the batch before, while it runs (two-stage batches only).
    var previousRest: Task<Void, Never>?
    /// Batches run so far.
    public private(set) var batches = 0
    /// Requests answered so far.
    public private(set) var requests = 0
    /// Requests waiting for the next batch.
    public var queued: Int { waiting.count }

    public init(_ perform: @escaping Perform) {
        first = { requests in
            let results = await perform(requests)
            return { results }
        }
    }

    /// Batches in two stages, like a pipeline: the next batch's first stage starts as soon as this one's first
    /// stage is done, while this one's rest runs. Rests run one at a time, in the batches' order, and a first stage
    /// never gets more than one batch ahead (it waits for the rest of the batch before the one that just finished).
    /// What one stage waits for (a disk's flush) is then spent on the other's work.
    public init(first: @escaping @Sendable ([Request]) async -> Rest) {
        self.first = first
    }

    /// Returns (or throws) what the batch the request joined answered for it.
    public func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Response, any Error>) in
            waiting.append(Waiter(request: request, continuation: continuation))
            if !busy { startBatch() }
        }
    }

    func startBatch() {
        let batch = waiting
        waiting = []
        guard !batch.isEmpty else {
            busy = false
            return
        }
        busy = true
        batches += 1
        requests += batch.count
        let first = self.first
        Task {
            let rest = await first(batch.map(\.request))
            await self.handOver(batch, rest)
        }
    }

    /// The batch's first stage is done: its rest runs after the rest of the batch before, and the next batch starts
    /// once that one's rest is done (with one-stage batches, whose rest only answers, at once).
    func handOver(_ batch: [Waiter], _ rest: @escaping Rest) async {
        let before = previousRest
        previousRest = Task {
            await before?.value
            self.finish(batch, await rest())
        }
        await before?.value
        startBatch()
    }

    nonisolated func finish(_ batch: [Waiter], _ results: [Result<Response, any Error>]) {
        for (i, waiter) in batch.enumerated() {
            waiter.continuation.resume(with: i < results.count ? results[i] : .failure(GroupCommitError.noAnswer))
        }
    }
}

/// A batch answered fewer results than it had requests (a bug in its `perform`).
public enum GroupCommitError: Error, CustomStringConvertible {
    case noAnswer
    public var description: String { "internal error: a batched request got no answer" }
}
