import Foundation
import Logging
import ServiceLifecycle
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

public struct ServerOptions: Sendable {
    /// Act as this site (`local` → this machine's id); nil → each project's active site from the settings.
    public var activeSite: String?
    /// Only these projects; nil → every enabled project.
    public var projects: [String]?
    /// Return once no runnable work remains (waiting out retries), instead of running until signalled.
    public var once: Bool
    /// Only files of these representations (`ensure`, `workfile`); nil → everything.
    public var representations: [String]?

    public init(activeSite: String? = nil, projects: [String]? = nil, once: Bool = false, representations: [String]? = nil) {
        self.activeSite = activeSite
        self.projects = projects
        self.once = once
        self.representations = representations
    }
}

/// The sync server for one active site: finds the transfers each project needs (uploads, downloads and
/// copies to `always_accessible_on` sites), leases them, runs them with per-site concurrency and no batch
/// barrier, and records the outcome. No single error stops it.
///
/// Its parts: `ServerPlan` (which pairs, from settings; pure), `SiteHealth` (which sites to skip),
/// `FailurePolicy` (what a failure means; pure), `ServerLoop` (claims, starts, renews, records).
public final class SyncServer: Service, Sendable {
    let engine: SiteSync
    let options: ServerOptions
    /// Who holds the leases this server takes.
    public let owner: String
    let board = ProgressBoard()
    let logger: Logger

    public init(engine: SiteSync, options: ServerOptions) {
        self.engine = engine
        self.options = options
        self.owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
        self.logger = engine.logger
    }

    /// What the server is doing now, for progress displays.
    public var progress: ServerProgress { board.snapshot() }

    /// `Service`: runs until graceful shutdown (SIGINT/SIGTERM through a `ServiceGroup`), or until idle with `once`.
    public func run() async throws {
        _ = try await runLoop()
    }

    /// Runs until no runnable work remains (with `once`) or until shutdown, and returns what happened.
    public func runUntilIdle() async throws -> RunSummary {
        try await runLoop()
    }

    enum Event: Sendable {
        case tick
        /// An attempt ended. Keyed by attempt, not by file: a retry of the same file can start before the
        /// loop has read the end of the previous attempt.
        case finished(ServerLoop.Attempt, Outcome)
        /// A site's background check answered: `problem` nil when the site works.
        case checked(SiteConfig, problem: String?)
        case shutdown
    }

    enum Outcome: Sendable {
        case synced(RunSummary.Moved, WriteReport)
        /// `siteTrouble`: the site itself could not be reached (not this file's fault). `damaged`: the source's
        /// copy was found missing or corrupt (and marked so).
        case failed(String, permanent: Bool, siteTrouble: Bool, damaged: String?)
        case released
    }

    func runLoop() async throws -> RunSummary {
        let (events, continuation) = AsyncStream<Event>.makeStream()
        let clock = engine.clock
        let started = clock.now()
        var summary = RunSummary()
        let ticker = Task { [poll = engine.environment.pollInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(poll * 1e9))
                continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        var loop = ServerLoop(engine: engine, options: options, owner: owner, board: board, logger: logger,
                              continuation: continuation)

        await withGracefulShutdownHandler {
            await loop.fill(&summary, force: true)
            if options.once, loop.idle { return }
            for await event in events {
                switch event {
                case .shutdown:
                    loop.stopping = true
                    logger.info("shutting down: stopping \(loop.running.count) running transfer(s) and releasing their leases")
                    for running in loop.running.values { running.task.cancel() }
                case .finished(let attempt, let outcome):
                    loop.finish(attempt, outcome, into: &summary)
                    if !loop.stopping && loop.worthRefilling { await loop.fill(&summary, force: false, refresh: false) }
                case .checked(let site, let problem):
                    loop.checked(site, problem: problem, &summary)
                    if !loop.stopping { await loop.fill(&summary, force: false, refresh: false) }
                case .tick:
                    guard !loop.stopping else { break }
                    await loop.tick(&summary)
                }
                if loop.stopping && loop.running.isEmpty { break }
                if options.once && loop.idle { break }
            }
        } onGracefulShutdown: {
            continuation.yield(.shutdown)
        }
        // Cancelled without a graceful shutdown (or leaving early): stop what still runs and wait for it, so no
        // transfer outlives the server and every temporary file is cleaned.
        loop.scrub?.cancel()
        await loop.scrub?.value
        for running in loop.running.values { running.task.cancel() }
        for running in loop.running.values { await running.task.value }
        // Whatever still holds a lease of ours goes back to the queue.
        try? await engine.catalog.releaseLeases(owner: owner, keys: nil)
        summary.elapsed = clock.now().timeIntervalSince(started)
        let (flushes, flushed) = (await GroupFlush.shared.batches, await GroupFlush.shared.requests)
        let (records, recorded) = (await loop.completions.batches, await loop.completions.requests)
        logger.debug("shared work: \(flushes) flush round(s) for \(flushed) flush(es); \(records) catalog transaction(s) for \(recorded) completed transfer(s)")
        return summary
    }
}
