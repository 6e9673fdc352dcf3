import Foundation
import Logging
import PostgresNIO

/// The connection pool, replaced when it stops answering. postgres-nio's pool reconnects on its own in most cases,
/// but after a database restart we have seen requests wait on it indefinitely; a sync server must never hang on
/// its catalog, so every call has a deadline and a pool that missed one (or lost its connections) is swapped for
/// a fresh one — at most once per `minimumAge`, so an outage does not churn pools.
final class PostgresPool: @unchecked Sendable {
    private let lock = NSLock()
    private var client: PostgresClient
    private var runner: Task<Void, Never>
    private var createdAt: Date
    private var closed = false
    /// A call failed to reach the database since the last pool was started.
    private var troubled = false
    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    let minimumAge: TimeInterval

    init(configuration: PostgresClient.Configuration, logger: Logger, minimumAge: TimeInterval = 5) {
        self.configuration = configuration
        self.logger = logger
        self.minimumAge = minimumAge
        (client, runner) = Self.start(configuration, logger)
        createdAt = Date()
    }

    private static func start(_ configuration: PostgresClient.Configuration, _ logger: Logger) -> (PostgresClient, Task<Void, Never>) {
        // The pool's own retries are reported to callers as catalog errors; its per-attempt chatter is not news.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        return (client, Task { await client.run() })
    }

    /// The pool to use now.
    var current: PostgresClient { lock.withLock { client } }

    /// Replaces `failed` with a fresh pool (unless it was replaced already, or is too young to judge).
    func replace(_ failed: PostgresClient, because reason: String) {
        let old: Task<Void, Never>? = lock.withLock {
            guard !closed, client === failed else { return nil }
            troubled = true
            guard Date().timeIntervalSince(createdAt) >= minimumAge else { return nil }
            return restart()
        }
        if let old {
            logger.info("catalog connections renewed (\(reason))")
            // Cancelling the old pool's run fails whatever still waits on it.
            old.cancel()
        }
    }

    /// The listener got through: a pool that failed since it started (it may be waiting out its own backoff,
    /// holding requests) is replaced now.
    func databaseIsBack() {
        let old: Task<Void, Never>? = lock.withLock {
            guard !closed, troubled else { return nil }
            troubled = false
            return restart()
        }
        if let old {
            logger.info("catalog reachable again; connections renewed")
            old.cancel()
        }
    }

    /// Starts a fresh pool (under the lock) and returns the old one's run task.
    private func restart() -> Task<Void, Never> {
        let previous = runner
        (client, runner) = Self.start(configuration, logger)
        createdAt = Date()
        return previous
    }

    func close() {
        let task = lock.withLock { closed = true; return runner }
        task.cancel()
    }
}
