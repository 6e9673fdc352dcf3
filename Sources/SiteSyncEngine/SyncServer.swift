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

    public init(activeSite: String? = nil, projects: [String]? = nil, once: Bool = false) {
        self.activeSite = activeSite
        self.projects = projects
        self.once = once
    }
}

/// What a server run did.
public struct RunSummary: Sendable {
    public struct Moved: Sendable {
        public var path: String
        public var source: String
        public var target: String
        public var size: Int64
        public var seconds: Double
    }
    public var moved: [Moved] = []
    /// "path → site: reason" for files that ran out of tries during this run.
    public var failed: [String] = []
    public var retriesScheduled = 0
    /// Sites that could not be used while they had work waiting, with the reason.
    public var unavailable: [String: String] = [:]
    public var elapsed: Double = 0

    public var bytes: Int64 { moved.reduce(0) { $0 + $1.size } }
    public var succeeded: Bool { failed.isEmpty && unavailable.isEmpty }
}

/// The sync server for one active site: finds the transfers each project needs (uploads, downloads and
/// copies to `always_accessible_on` sites), leases them, runs them with per-site concurrency and no batch
/// barrier, and records the outcome. No single error stops it.
public final class SyncServer: Service, Sendable {
    let engine: SiteSync
    let options: ServerOptions
    /// Who holds the leases this server takes.
    public let owner: String
    let progressLine: Bool
    let logger: Logger

    public init(engine: SiteSync, options: ServerOptions, progressLine: Bool = false) {
        self.engine = engine
        self.options = options
        self.owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
        self.progressLine = progressLine
        self.logger = engine.logger
    }

    /// `Service`: runs until graceful shutdown (SIGINT/SIGTERM through a `ServiceGroup`), or until idle with `once`.
    public func run() async throws {
        _ = try await runLoop()
    }

    /// Runs until no runnable work remains and returns what happened.
    public func runUntilIdle() async throws -> RunSummary {
        try await runLoop()
    }

    enum Event: Sendable {
        case tick
        /// An attempt ended. Keyed by attempt, not by file: a retry of the same file can start before the
        /// loop has read the end of the previous attempt.
        case finished(UUID, Outcome)
        case shutdown
    }

    enum Outcome: Sendable {
        case synced(RunSummary.Moved)
        /// `siteTrouble`: the site itself could not be reached (not this file's fault).
        case failed(String, permanent: Bool, siteTrouble: Bool)
        case released
    }

    struct Running {
        var item: WorkItem
        var task: Task<Void, Never>
        var lost = false
    }

    struct Pair: Hashable, Sendable {
        var source: String
        var target: String
    }

    struct Plan {
        var pairs: [Pair: [String]] = [:]          // pair → projects
        var projects: [String: EffectiveProject] = [:]
        var sites: [String: SiteConfig] = [:]
    }

    func runLoop() async throws -> RunSummary {
        let (events, continuation) = AsyncStream<Event>.makeStream()
        let started = Date()
        var summary = RunSummary()
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(engine.environment.pollInterval * 1e9))
                continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        let board = ProgressBoard()
        var state = LoopState(engine: engine, options: options, owner: owner, board: board, logger: logger,
                              continuation: continuation)

        await withGracefulShutdownHandler {
            await state.fill(&summary, force: true)
            if options.once, state.idle { return }
            for await event in events {
                switch event {
                case .shutdown:
                    state.stopping = true
                    logger.info("shutting down: stopping \(state.running.count) running transfer(s) and releasing their leases")
                    for running in state.running.values { running.task.cancel() }
                case .finished(let attempt, let outcome):
                    state.finish(attempt, outcome, into: &summary)
                    if !state.stopping { await state.fill(&summary, force: false, refresh: false) }
                case .tick:
                    guard !state.stopping else { break }
                    await state.tick(&summary)
                    if progressLine { ProgressLine.draw(running: state.running.count, summary: summary, board: board) }
                }
                if state.stopping && state.running.isEmpty { break }
                if options.once && state.idle { break }
            }
        } onGracefulShutdown: {
            continuation.yield(.shutdown)
        }
        // Cancelled without a graceful shutdown (or leaving early): stop what still runs and wait for it, so no
        // transfer outlives the server and every temporary file is cleaned.
        for running in state.running.values { running.task.cancel() }
        for running in state.running.values { await running.task.value }
        // Whatever still holds a lease of ours goes back to the queue.
        try? await engine.catalog.releaseLeases(owner: owner, keys: nil)
        if progressLine { ProgressLine.clear() }
        summary.elapsed = Date().timeIntervalSince(started)
        return summary
    }
}

/// The loop's own state; only the loop touches it, transfers talk back through events.
struct LoopState {
    let engine: SiteSync
    let options: ServerOptions
    let owner: String
    let board: ProgressBoard
    let logger: Logger
    let continuation: AsyncStream<SyncServer.Event>.Continuation

    var running: [UUID: SyncServer.Running] = [:]
    var perSite: [String: Int] = [:]
    var stopping = false
    var plan = SyncServer.Plan()
    var planKey = ""
    var planBuiltAt = Date.distantPast
    var lastGeneration: Int64 = -1
    var nextDue: Date?
    var lastFill = Date.distantPast
    var lastRenew = Date()
    var lastRequeue = Date.distantPast
    var claimedLastFill = false
    /// Providers per site name, one per distinct configuration (projects may override a site's settings).
    var providers: [String: [(SiteConfig, any StorageProvider)]] = [:]
    var health: [String: (ok: Bool, at: Date, message: String)] = [:]
    var serverPaused = false
    var warned: Set<String> = []

    init(engine: SiteSync, options: ServerOptions, owner: String, board: ProgressBoard, logger: Logger,
         continuation: AsyncStream<SyncServer.Event>.Continuation) {
        self.engine = engine
        self.options = options
        self.owner = owner
        self.board = board
        self.logger = logger
        self.continuation = continuation
    }

    /// Nothing running, nothing claimed last time and nothing waiting out a backoff.
    var idle: Bool { running.isEmpty && !claimedLastFill && nextDue == nil }

    var leaseDuration: TimeInterval { engine.environment.leaseDuration }

    mutating func tick(_ summary: inout RunSummary) async {
        let now = Date()
        if now.timeIntervalSince(lastRenew) >= leaseDuration / 3 && !running.isEmpty {
            await renew(now)
        }
        let generation = (try? await engine.catalog.workGeneration()) ?? lastGeneration
        let loopDelay = plan.projects.values.map(\.sync.loopDelay).min() ?? 60
        let due = nextDue.map { now >= $0 } ?? false
        if generation != lastGeneration || due || now.timeIntervalSince(lastFill) >= loopDelay {
            lastGeneration = generation
            await fill(&summary, force: due)
        }
    }

    /// Keeps our leases alive and stops transfers whose rows were paused, reset, removed or taken over.
    mutating func renew(_ now: Date) async {
        lastRenew = now
        let keys = running.values.map(\.item.key)
        do {
            let held = try await engine.catalog.renewLeases(owner: owner, keys: keys, until: now.addingTimeInterval(leaseDuration))
            for (attempt, r) in running where !held.contains(r.item.key) && !r.lost {
                running[attempt]?.lost = true
                logger.info("stopping \(r.item.file.path) → \(r.item.target): it was paused, reset or removed")
                r.task.cancel()
            }
            for key in held {
                if let done = board.bytes(key) {
                    try await engine.catalog.reportProgress(key, owner: owner, bytesDone: done)
                }
            }
        } catch {
            logger.warning("cannot renew leases: \(error)")
        }
    }

    mutating func finish(_ attempt: UUID, _ outcome: SyncServer.Outcome, into summary: inout RunSummary) {
        guard let r = running.removeValue(forKey: attempt) else { return }
        let key = r.item.key
        board.remove(key)
        perSite[r.item.source, default: 1] -= 1
        perSite[r.item.target, default: 1] -= 1
        switch outcome {
        case .synced(let moved):
            summary.moved.append(moved)
            logger.info("synced \(moved.path) \(moved.source) → \(moved.target) (\(ByteCount.format(moved.size)) in \(String(format: "%.2f", moved.seconds)) s)")
        case .failed(let message, let permanent, let siteTrouble):
            if siteTrouble {
                // Check both sites again before the next claim: an outage then skips them instead of using up
                // every file's tries.
                health[r.item.source] = nil
                health[r.item.target] = nil
            }
            if permanent {
                summary.failed.append("\(r.item.file.path) → \(key.site): \(message)")
                logger.error("failed for good: \(r.item.file.path) → \(key.site): \(message) (`sitesync reset` to try again)")
            } else {
                summary.retriesScheduled += 1
                logger.warning("will retry: \(r.item.file.path) → \(key.site): \(message)")
            }
        case .released:
            break
        }
    }

    /// Reloads the plan when settings or projects changed (or every loop_delay); cheap otherwise.
    mutating func refreshPlan() async throws {
        let catalog = engine.catalog
        let yaml = try await catalog.studioSettingsYAML() ?? ""
        let projects = try await catalog.projects()
        serverPaused = try await catalog.isServerPaused()
        let localStamp = LocalFiles.modified(engine.localStore.path)?.timeIntervalSince1970 ?? 0
        let key = "\(yaml.hashValue)|\(projects.map { "\($0.name):\($0.paused)" })|\(localStamp)"
        let maxAge = plan.projects.values.map(\.sync.loopDelay).min() ?? 60
        guard key != planKey || Date().timeIntervalSince(planBuiltAt) > maxAge else { return }
        let ctx = try await engine.context()
        var next = SyncServer.Plan()
        for record in projects where !record.paused {
            if let only = options.projects, !only.contains(record.name) { continue }
            let p: EffectiveProject
            do {
                p = try ctx.project(record.name)
            } catch {
                warnOnce("project \(record.name): \(error)")
                continue
            }
            guard p.enabled else { continue }
            let active = options.activeSite.map(p.realName) ?? p.sync.activeSite
            guard p.sites[active] != nil else {
                warnOnce("project \(record.name): active site '\(active)' is not configured for it; skipped")
                continue
            }
            let remote = p.sync.remoteSite
            var pairs = [SyncServer.Pair(source: active, target: remote), SyncServer.Pair(source: remote, target: active)]
            pairs += p.sync.alwaysAccessibleOn.map { SyncServer.Pair(source: active, target: $0) }
            for pair in pairs where pair.source != pair.target && !p.alternates.group(of: pair.source).contains(pair.target) {
                guard let s = p.sites[pair.source], let t = p.sites[pair.target] else { continue }
                guard s.enabled && t.enabled else { continue }
                if !next.pairs[pair, default: []].contains(record.name) { next.pairs[pair, default: []].append(record.name) }
                next.sites[s.name] = next.sites[s.name] ?? s
                next.sites[t.name] = next.sites[t.name] ?? t
            }
            next.projects[record.name] = p
        }
        plan = next
        planKey = key
        planBuiltAt = Date()
    }

    /// Logged once per distinct message: a server that repeats the same line every second helps nobody.
    mutating func warnOnce(_ message: String) {
        guard warned.insert(message).inserted else { return }
        logger.warning("\(message)")
    }

    /// The provider for these site settings, kept while they stay the same: its connections, tokens and
    /// folder caches are reused across files.
    mutating func provider(for site: SiteConfig) throws -> any StorageProvider {
        if let (_, provider) = providers[site.name]?.first(where: { $0.0 == site }) { return provider }
        let provider = try engine.registry.make(site)
        var known = providers[site.name] ?? []
        known.append((site, provider))
        if known.count > 8 { known.removeFirst() }  // settings edited many times: forget the oldest
        providers[site.name] = known
        return provider
    }

    static let unhealthyRecheck: TimeInterval = 5

    /// The site passed its check recently enough to skip checking it again.
    func knownHealthy(_ site: SiteConfig) -> Bool {
        guard let h = health[site.name] else { return false }
        return h.ok && Date().timeIntervalSince(h.at) < 300
    }

    /// Whether the site can be used now: checked at most every 5 s when it failed, every 5 min when it worked.
    mutating func isHealthy(_ site: SiteConfig, _ summary: inout RunSummary) async -> Bool {
        let now = Date()
        if let h = health[site.name], now.timeIntervalSince(h.at) < (h.ok ? 300 : Self.unhealthyRecheck) {
            if !h.ok { summary.unavailable[site.name] = h.message }
            return h.ok
        }
        do {
            do {
                _ = try await provider(for: site).check()
            } catch let e as ProviderError where e.kind == .quota {
                // Rate-limited while checking: the site works, it is only busy; transfers wait out the quota.
                logger.info("site \(site.name) is rate-limiting: \(e.message)")
            }
            if let h = health[site.name], !h.ok { logger.info("site \(site.name) is available again") }
            health[site.name] = (true, now, "")
            summary.unavailable[site.name] = nil
            return true
        } catch {
            let message = "\(error)"
            if health[site.name]?.message != message { logger.warning("site \(site.name) is unavailable: \(message)") }
            health[site.name] = (false, now, message)
            summary.unavailable[site.name] = message
            return false
        }
    }

    /// Claims as much work as free capacity allows and starts it.
    mutating func fill(_ summary: inout RunSummary, force: Bool, refresh: Bool = true) async {
        let now = Date()
        lastFill = now
        claimedLastFill = false
        do {
            // Settings and pause flags are re-read on timer ticks; the end of a transfer only refills slots.
            if refresh { try await refreshPlan() }
            if serverPaused {
                warnOnce("the server is paused (`sitesync resume` to continue)")
                nextDue = nil
                return
            }
            if force || now.timeIntervalSince(lastRequeue) >= min(5, leaseDuration / 2) {
                lastRequeue = now
                let n = try await engine.catalog.requeueExpiredLeases(now: now)
                if n > 0 { logger.info("took over \(n) transfer(s) whose lease expired") }
            }
            var due: Date?
            for (pair, projects) in plan.pairs.sorted(by: { "\($0.key)" < "\($1.key)" }) {
                guard let source = plan.sites[pair.source], let target = plan.sites[pair.target] else { continue }
                let free = min(capacity(source), capacity(target))
                // Full: the end of a running transfer will bring us back here.
                guard free > 0 else { continue }
                if !(knownHealthy(source) && knownHealthy(target)) {
                    // Check a site only when it has work waiting: an unreachable site without work is no news.
                    let pending = try await engine.catalog.nextAttempt(source: pair.source, target: pair.target,
                                                                       projects: projects, after: .distantPast)
                    guard pending != nil else { continue }
                    guard await isHealthy(source, &summary), await isHealthy(target, &summary) else {
                        // A long-running server comes back for it when the site is due for another check;
                        // `--once` reports it instead of waiting for an outage to end.
                        if !options.once {
                            let recheck = Date().addingTimeInterval(Self.unhealthyRecheck)
                            due = min(due ?? recheck, recheck)
                        }
                        continue
                    }
                }
                let items = try await engine.catalog.claim(ClaimRequest(
                    source: pair.source, target: pair.target, projects: projects, owner: owner, now: Date(),
                    leaseUntil: Date().addingTimeInterval(leaseDuration), limit: free))
                for item in items { try start(item, source: source, target: target) }
                if !items.isEmpty { claimedLastFill = true }
                if items.count < free, let later = try await engine.catalog.nextAttempt(
                    source: pair.source, target: pair.target, projects: projects, after: Date()) {
                    due = min(due ?? later, later)
                }
            }
            nextDue = due
        } catch {
            // A catalog hiccup (locked, disk full) must not end the server: log it and try again shortly.
            logger.error("planning failed, retrying: \(error)")
            nextDue = Date().addingTimeInterval(1)
        }
    }

    func capacity(_ site: SiteConfig) -> Int {
        engine.registry.concurrency(of: site) - perSite[site.name, default: 0]
    }

    mutating func start(_ item: WorkItem, source: SiteConfig, target: SiteConfig) throws {
        let key = item.key
        guard let project = plan.projects[item.file.project] else {
            Task { [engine, owner] in try? await engine.catalog.releaseLeases(owner: owner, keys: [key]) }
            return
        }
        // Per-project overrides of a site win for that project's files.
        let sourceConfig = project.sites[source.name] ?? source
        let targetConfig = project.sites[target.name] ?? target
        let transfer = VerifiedTransfer(item: item, source: sourceConfig, target: targetConfig,
                                        sourceProvider: try provider(for: sourceConfig),
                                        targetProvider: try provider(for: targetConfig),
                                        project: project, stagingDirectory: engine.environment.stagingDirectory)
        perSite[source.name, default: 0] += 1
        perSite[target.name, default: 0] += 1
        board.set(key, 0)
        let catalog = engine.catalog
        let owner = self.owner
        let continuation = self.continuation
        let board = self.board
        let attempt = UUID()
        let task = Task {
            let started = Date()
            let outcome: SyncServer.Outcome
            do {
                try await transfer.run { board.set(key, $0) }
                try Task.checkCancellation()
                let alternates = project.alternates.alternates(of: item.target)
                if try await catalog.completeTransfer(key, owner: owner, alternates: alternates, now: Date()) {
                    outcome = .synced(.init(path: item.file.path, source: item.source, target: item.target,
                                            size: item.file.size, seconds: Date().timeIntervalSince(started)))
                } else {
                    outcome = .released
                }
            } catch {
                outcome = await Self.recordFailure(error, item: item, project: project, catalog: catalog, owner: owner)
            }
            continuation.yield(.finished(attempt, outcome))
        }
        running[attempt] = SyncServer.Running(item: item, task: task)
    }

    /// Classifies a failure: cancellation gives the lease back; quota and an unreachable site retry without
    /// counting a try; everything else counts a try and backs off until `retry_count` is used up.
    static func recordFailure(_ error: any Error, item: WorkItem, project: EffectiveProject, catalog: any Catalog,
                              owner: String) async -> SyncServer.Outcome {
        let providerError = error as? ProviderError
        if error is CancellationError || providerError?.kind == .cancelled {
            try? await catalog.releaseLeases(owner: owner, keys: [item.key])
            return .released
        }
        let message = providerError?.message ?? "\(error)"
        let siteTrouble = providerError?.kind == .unavailable
        let countsAsTry = providerError?.kind != .quota && !siteTrouble
        let tries = item.tries + (countsAsTry ? 1 : 0)
        let policy = project.retryPolicy
        let delay = countsAsTry ? policy.delay(afterTries: tries, jitter: Double.random(in: 0..<1))
                                : max(policy.base, 1) * (0.5 + Double.random(in: 0..<1))
        let now = Date()
        let status = try? await catalog.failTransfer(item.key, owner: owner, error: message,
                                                     retryAt: delay.map { now.addingTimeInterval($0) },
                                                     countsAsTry: countsAsTry, now: now)
        guard let status else { return .released }
        return .failed(message, permanent: status == .failed, siteTrouble: siteTrouble)
    }
}

/// Bytes done per running transfer, written by transfer threads, read by the loop.
final class ProgressBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [FileKey: Int64] = [:]

    func set(_ key: FileKey, _ value: Int64) { lock.withLock { bytes[key] = value } }
    func remove(_ key: FileKey) { _ = lock.withLock { bytes.removeValue(forKey: key) } }
    func bytes(_ key: FileKey) -> Int64? { lock.withLock { bytes[key] } }
    var total: Int64 { lock.withLock { bytes.values.reduce(0, +) } }
}

public enum ByteCount {
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// The one-line progress display for a terminal.
enum ProgressLine {
    static func draw(running: Int, summary: RunSummary, board: ProgressBoard) {
        let done = summary.moved.count
        let line = "\r\u{1B}[K[sitesync] \(running) running, \(done) synced (\(ByteCount.format(summary.bytes + board.total))), \(summary.failed.count) failed"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
