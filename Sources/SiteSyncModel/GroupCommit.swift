/// Runs the requests that arrive together as one batch (group commit, as a database shares one log write among
/// the transactions that commit at once): while a batch runs, new requests wait and form the next one. Nothing
/// waits for company: a request that arrives when nothing runs starts a batch of its own at once.
public actor GroupCommit<Request: Sendable, Response: Sendable> {
    /// Performs a batch; answers one result per request, in order.
    public typealias Perform = @Sendable ([Request]) async -> [Result<Response, any Error>]

    struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Response, any Error>
    }

    let perform: Perform
    var waiting: [Waiter] = []
    var busy = false
    /// Batches run so far.
    public private(set) var batches = 0
    /// Requests answered so far.
    public private(set) var requests = 0

    public init(_ perform: @escaping Perform) {
        self.perform = perform
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
        let perform = self.perform
        Task {
            let results = await perform(batch.map(\.request))
            self.finish(batch, results)
        }
    }

    func finish(_ batch: [Waiter], _ results: [Result<Response, any Error>]) {
        for (i, waiter) in batch.enumerated() {
            waiter.continuation.resume(with: i < results.count ? results[i] : .failure(GroupCommitError.noAnswer))
        }
        startBatch()
    }
}

/// A batch answered fewer results than it had requests (a bug in its `perform`).
public enum GroupCommitError: Error, CustomStringConvertible {
    case noAnswer
    public var description: String { "internal error: a batched request got no answer" }
}
