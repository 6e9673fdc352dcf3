import Foundation
import Logging
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

/// The server loop's own state: what runs, per-site slots, the plan, site health. Only the loop touches it;
/// transfers talk back through events.
struct ServerLoop {
    /// A transfer this loop started, by number: only this loop hands them out (a `UUID` read /dev/urandom per file).
    typealias Attempt = UInt64

    struct Running {
        var item: WorkItem
        var source: SiteConfig
        var target: SiteConfig
        var task: Task<Void, Never>
        /// Units of both sites' capacity this transfer holds (see `slotUnits`).
        var cost: Int
        var lost = false
        /// Ends the attempt as stalled without waiting for it (a hung connection or disk may never return).
        var abandon: @Sendable (_ idleSeconds: Double) -> Void
        var abandoned = false
    }

    /// A transfer slot in units: a large file takes a whole slot, a small one `slotUnits / smallFilesPerSlot`.
    static let slotUnits = 64

    let engine: SiteSync
    let options: ServerOptions
    let owner: String
    let board: ProgressBoard
    let logger: Logger
    let continuation: AsyncStream<SyncServer.Event>.Continuation
    let clock: any WallClock

    var running: [Attempt: Running] = [:]
    /// The number of the next transfer this loop starts.
    var nextAttempt = Attempt(0)
    /// Units of capacity in use per site.
    var perSite: [String: Int] = [:]
    /// Units given back by transfers that ended since the last fill.
    var freedSinceFill = 0
    /// Finished transfers are recorded together: one catalog transaction for the files that end at once.
    let completions: GroupCommit<TransferCompletion, Bool>
    var stopping = false
    var plan = ServerPlan()
    var planKey = ""
    var planBuiltAt = Date.distantPast
    var lastGeneration: Int64 = -1
    var nextDue: Date?
    var lastFill = Date.distantPast
    var lastRenew: Date
    var lastRequeue = Date.distantPast
    var lastProgressReport = Date.distantPast
    var lastScrub = Date.distantPast
    /// The background scrub in progress, if any (one slice at a time, beside the transfers).
    var scrub: Task<Void, Never>?
    /// Set when the scrub slice in progress has finished.
    var scrubFinished = CancellationFlag()
    var claimedLastFill = false
    /// Providers per site name, one per distinct configuration (projects may override a site's settings).
    var providers: [String: [(SiteConfig, any StorageProvider)]] = [:]
    var health = SiteHealth<SiteConfig>()
    /// Lanes of unchecked sites recently found without work (see `QuietLanes`).
    var quiet = QuietLanes()
    /// Sites whose check runs in the background (see `isHealthy`).
    var checking: Set<SiteConfig> = []
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
        self.clock = engine.clock
        self.lastRenew = engine.clock.now()
        let (catalog, clock) = (engine.catalog, engine.clock)
        completions = GroupCommit { batch in
            do {
                let done = try await catalog.completeTransfers(batch, owner: owner, now: clock.now())
                return batch.map { .success(done.contains($0.key)) }
            } catch {
                return batch.map { _ in .failure(error) }
            }
        }
    }

    /// Whether a transfer's end is worth a claim now: a whole slot is free again, or nothing runs. Small files
    /// end many at a time; claiming after each would cost a catalog transaction per file.
    var worthRefilling: Bool { freedSinceFill >= Self.slotUnits || running.isEmpty }

    /// Nothing running, nothing claimed last time, nothing waiting out a backoff and no site check unanswered.
    var idle: Bool { running.isEmpty && !claimedLastFill && nextDue == nil && checking.isEmpty }

    var leaseDuration: TimeInterval { engine.environment.leaseDuration }

    mutating func tick(_ summary: inout RunSummary) async {
        let now = clock.now()
        abandonStalled()
        if now.timeIntervalSince(lastRenew) >= leaseDuration / 3 && !running.isEmpty {
            await renew(now)
        } else if now.timeIntervalSince(lastProgressReport) >= 2 && !running.isEmpty {
            // `show` reads bytes done from the catalog: keep it within a couple of seconds of the truth.
            lastProgressReport = now
            for r in running.values {
                if let done = board.bytes(r.item.key) {
                    try? await engine.catalog.reportProgress(r.item.key, owner: owner, bytesDone: done)
                }
            }
        }
        if now.timeIntervalSince(lastScrub) >= engine.environment.scrubInterval && !stopping {
            lastScrub = now
            startScrub(now)
        }
        let generation = (try? await engine.catalog.workGeneration()) ?? lastGeneration
        let due = nextDue.map { now >= $0 } ?? false
        if generation != lastGeneration || due || now.timeIntervalSince(lastFill) >= plan.loopDelay {
            // Something changed in the catalog: a pause, reset or removal stops its running transfer now, not at
            // the next lease renewal.
            if generation != lastGeneration && !running.isEmpty { await stopLost() }
            lastGeneration = generation
            await fill(&summary, force: due)
        }
    }

    /// Cancels the running transfers whose lease we no longer hold.
    mutating func stopLost() async {
        guard let held = try? await engine.catalog.leasesHeld(owner: owner, keys: running.values.map(\.item.key)) else { return }
        cancelLost(held: held)
    }

    mutating func cancelLost(held: Set<FileKey>) {
        for (attempt, r) in running where !held.contains(r.item.key) && !r.lost {
            running[attempt]?.lost = true
            // Also seen for a transfer that has just completed (its row is synced, its event not read yet): only
            // a transfer still running is stopped by this.
            logger.debug("stopping \(r.item.file.path) → \(r.item.target) if it still runs: its row was paused, reset, removed or completed")
            r.task.cancel()
        }
    }

    /// Keeps our leases alive and stops transfers whose rows were paused, reset, removed or taken over.
    mutating func renew(_ now: Date) async {
        lastRenew = now
        let keys = running.values.map(\.item.key)
        do {
            let held = try await engine.catalog.renewLeases(owner: owner, keys: keys, now: now, until: now.addingTimeInterval(leaseDuration))
            cancelLost(held: held)
            for key in held {
                if let done = board.bytes(key) {
                    try await engine.catalog.reportProgress(key, owner: owner, bytesDone: done)
                }
            }
        } catch {
            logger.warning("cannot renew leases: \(error)")
        }
    }

    mutating func finish(_ attempt: Attempt, _ outcome: SyncServer.Outcome, into summary: inout RunSummary) {
        guard let r = running.removeValue(forKey: attempt) else { return }
        let key = r.item.key
        perSite[r.item.source, default: r.cost] -= r.cost
        perSite[r.item.target, default: r.cost] -= r.cost
        freedSinceFill += r.cost
        switch outcome {
        case .synced(let moved, let report):
            board.finish(key, synced: moved.size, failed: false)
            let sent = !report.adopted && report.madeFrom == nil
            engine.metrics.transfer(source: moved.source, target: moved.target,
                                    outcome: report.adopted ? "adopted" : report.madeFrom != nil ? "deduplicated" : "synced",
                                    bytes: sent ? moved.size : 0, seconds: sent ? moved.seconds : nil)
            if let aside = report.movedAside {
                summary.conflicts.append("\(aside) on \(moved.target)")
                logger.warning("a different file was at \(moved.path) on \(moved.target): moved aside to \(aside), not overwritten")
            }
            if report.adopted {
                summary.adopted.append("\(moved.path) → \(moved.target)")
                logger.info("\(moved.path) was already on \(moved.target) with the right content: recorded, not copied")
            } else if let identical = report.madeFrom {
                // Made on the target from its own copy: the target is where the bytes came from.
                var made = moved
                made.source = moved.target
                summary.deduplicated.append(made)
                logger.info("made \(moved.path) on \(moved.target) from the identical \(identical) already there (\(ByteCount.format(moved.size)) not sent)")
            } else {
                summary.moved.append(moved)
                logger.info("synced \(moved.path) \(moved.source) → \(moved.target) (\(ByteCount.format(moved.size)) in \(ByteCount.decimal(moved.seconds, places: 2)) s)")
            }
        case .failed(let message, let permanent, let siteTrouble, let damaged):
            board.finish(key, synced: nil, failed: permanent)
            engine.metrics.transfer(source: r.item.source, target: key.site, outcome: permanent ? "failed" : "retry", bytes: 0, seconds: nil)
            if !permanent { engine.metrics.retryScheduled(target: key.site) }
            if siteTrouble {
                // Check both sites again before the next claim: an outage then skips them instead of using up
                // every file's tries.
                health.forget(r.source)
                health.forget(r.target)
            }
            if let damaged {
                summary.damaged.append(damaged)
                if !permanent {
                    logger.warning("\(damaged); reading it from another site")
                    break
                }
            }
            if permanent {
                summary.failed.append("\(r.item.file.path) → \(key.site): \(message)")
                logger.error("failed for good: \(r.item.file.path) → \(key.site): \(message) (`sitesync reset` to try again)")
            } else {
                summary.retriesScheduled += 1
                logger.warning("will retry: \(r.item.file.path) → \(key.site): \(message)")
            }
        case .released:
            board.finish(key, synced: nil, failed: false)
        }
    }

    /// Starts one slice of the background scrub of every site this server uses that asks for one, unless the
    /// previous slice still runs. A damaged copy found is marked and queued again; the transfers heal it.
    mutating func startScrub(_ now: Date) {
        guard scrub == nil || scrubFinished.isCancelled else { return }
        var work: [(SiteConfig, EffectiveProject)] = []
        var seen: Set<String> = []
        for lane in plan.lanes {
            for site in [lane.source, lane.target] where site.scrubEveryDays != nil {
                for name in lane.projects where seen.insert("\(site.name)|\(name)").inserted {
                    if let project = plan.projects[name] { work.append((site, project)) }
                }
            }
        }
        guard !work.isEmpty else { return }
        let engine = self.engine, logger = self.logger
        let finished = CancellationFlag()
        scrubFinished = finished
        scrub = Task {
            defer { finished.cancel() }
            for (site, project) in work {
                guard !Task.isCancelled, let days = site.scrubEveryDays else { break }
                do {
                    let result = try await engine.scrubSlice(site, project: project, olderThan: now.addingTimeInterval(-days * 86_400),
                                                             maxFiles: 200, bytesPerSecond: site.scrubBandwidthLimit)
                    for line in result.damaged { logger.warning("background scrub: \(line); queued to be healed") }
                } catch is CancellationError {
                    break
                } catch {
                    logger.debug("background scrub of \(site.name) (project \(project.name)) skipped: \(error)")
                }
            }
        }
    }

    /// Reloads the plan when settings, projects or the local settings changed (or every loop_delay).
    mutating func refreshPlan() async throws {
        let catalog = engine.catalog
        let yaml = try await catalog.studioSettingsYAML() ?? ""
        let projects = try await catalog.projects()
        serverPaused = try await catalog.isServerPaused()
        let (local, localStamp) = try await engine.localStore.loadOffPool()
        let key = "\(yaml.hashValue)|\(projects.map { "\($0.name):\($0.paused)" })|\(localStamp?.timeIntervalSince1970 ?? 0)"
        let now = clock.now()
        guard key != planKey || now.timeIntervalSince(planBuiltAt) > plan.loopDelay else { return }
        let context = try engine.settingsContext(studio: try StudioSettings(yaml: yaml, source: "studio settings in the catalog"),
                                                 local: local)
        let resolved = projects.map { record in
            (record: record, resolved: Result<EffectiveProject, any Error> { try context.project(record.name) })
        }
        plan = ServerPlan.build(projects: resolved, options: options)
        for warning in plan.warnings { warnOnce(warning) }
        planKey = key
        planBuiltAt = now
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

    /// Whether the site can be used now, from its last check while that is fresh (see `SiteHealth`). A stale or
    /// missing check is started in the background: a site that takes its time to answer, or never does, holds up
    /// neither the other sites' work nor a shutdown. Meanwhile a site whose last check passed stays in use (the
    /// new check reports if it went away); one never checked, or forgotten after a transfer could not reach it,
    /// waits for the answer. The `.checked` event fills again.
    mutating func isHealthy(_ site: SiteConfig, _ summary: inout RunSummary) -> Bool {
        let label = plan.label(site)
        if let known = health.fresh(site, now: clock.now()) {
            if !known.ok { summary.unavailable[label] = known.message }
            board.setUnavailable(label, known.ok ? nil : known.message, checkedAt: known.at)
            return known.ok
        }
        startCheck(site, &summary)
        return health.checks[site]?.ok == true
    }

    /// Checks the site off the loop (bounded by `siteCheckTimeout`) and reports with a `.checked` event.
    mutating func startCheck(_ site: SiteConfig, _ summary: inout RunSummary) {
        guard !checking.contains(site) else { return }
        let provider: any StorageProvider
        do {
            provider = try self.provider(for: site)
        } catch {
            checked(site, problem: "\(error)", &summary)
            return
        }
        checking.insert(site)
        let (engine, continuation, logger) = (self.engine, self.continuation, self.logger)
        Task {
            var problem: String?
            do {
                _ = try await engine.check(provider, site: site.name)
            } catch let e as ProviderError where e.kind == .quota {
                // Rate-limited while checking: the site works, it is only busy; transfers wait out the quota.
                logger.info("site \(site.name) is rate-limiting: \(e.message)")
            } catch {
                problem = "\(error)"
            }
            continuation.yield(.checked(site, problem: problem))
        }
    }

    /// Records a site's check: `problem` nil when it works.
    mutating func checked(_ site: SiteConfig, problem: String?, _ summary: inout RunSummary) {
        checking.remove(site)
        let label = plan.label(site)
        let now = clock.now()
        if let problem {
            if health.record(site, ok: false, message: problem, now: now)?.message != problem {
                logger.warning("site \(label) is unavailable: \(problem)")
            }
            summary.unavailable[label] = problem
            board.setUnavailable(label, problem, checkedAt: now)
            engine.metrics.site(label, up: false)
        } else {
            if let before = health.record(site, ok: true, now: now), !before.ok {
                logger.info("site \(label) is available again")
            }
            summary.unavailable[label] = nil
            board.setUnavailable(label, nil, checkedAt: now)
            engine.metrics.site(label, up: true)
        }
    }

    /// Claims as much work as free capacity allows and starts it.
    mutating func fill(_ summary: inout RunSummary, force: Bool, refresh: Bool = true) async {
        let now = clock.now()
        lastFill = now
        claimedLastFill = false
        freedSinceFill = 0
        do {
            // Settings and pause flags are re-read on timer ticks; the end of a transfer only refills slots.
            if refresh {
                try await refreshPlan()
                // A pause of the server or of a project stops what already runs, not only what comes next.
                for (attempt, r) in running where !r.lost && (serverPaused || plan.projects[r.item.file.project] == nil) {
                    running[attempt]?.lost = true
                    logger.info("stopping \(r.item.file.path) → \(r.item.target): \(serverPaused ? "the server" : "its project") was paused or disabled")
                    r.task.cancel()
                }
            }
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
            for lane in plan.lanes {
                let (source, target) = (lane.source, lane.target)
                let budget = claimBudget(source, target)
                // Full: the end of a running transfer will bring us back here.
                guard budget.units >= budget.smallCost else { continue }
                let free = budget.units / budget.smallCost
                if !(health.knownHealthy(source, now: clock.now()) && health.knownHealthy(target, now: clock.now())) {
                    // Check a site only when it has work waiting: an unreachable site without work is no news.
                    let key = QuietLanes.Lane(source: source.name, target: target.name)
                    if quiet.skip(key, now: clock.now(), transfersRunning: !running.isEmpty) { continue }
                    let pending = try await engine.catalog.nextAttempt(source: source.name, target: target.name,
                                                                       projects: lane.projects, preferred: lane.preferred,
                                                                       representations: options.representations, after: .distantPast)
                    guard pending != nil else {
                        quiet.noteQuiet(key, now: clock.now())
                        continue
                    }
                    quiet.noteBusy(key)
                    // Both asked (not `&&`): the two checks then run at once.
                    let (sourceUp, targetUp) = (isHealthy(source, &summary), isHealthy(target, &summary))
                    guard sourceUp && targetUp else {
                        // A check still running fills again when it reports. A site found down: a long-running
                        // server comes back for it when it is due for another check; `--once` reports it instead
                        // of waiting for an outage to end.
                        if !options.once && !checking.contains(source) && !checking.contains(target) {
                            let recheck = clock.now().addingTimeInterval(SiteHealth<SiteConfig>.recheckUnhealthy)
                            due = min(due ?? recheck, recheck)
                        }
                        continue
                    }
                }
                let claimedAt = clock.now()
                let items = try await engine.catalog.claim(ClaimRequest(
                    source: source.name, target: target.name, projects: lane.projects, preferred: lane.preferred,
                    representations: options.representations, owner: owner, now: claimedAt, leaseUntil: claimedAt.addingTimeInterval(leaseDuration), limit: free,
                    budget: budget))
                for item in items { try start(item, source: source, target: target, cost: budget.cost(ofSize: item.file.size)) }
                if !items.isEmpty { claimedLastFill = true }
                // After the claim's own time, not now: a retry that fell due while the claim ran was not claimed,
                // and must not be missed here either (`--once` would end with it still queued).
                if items.count < free, let later = try await engine.catalog.nextAttempt(
                    source: source.name, target: target.name, projects: lane.projects, preferred: lane.preferred,
                    representations: options.representations, after: claimedAt) {
                    due = min(due ?? later, later)
                }
            }
            nextDue = due
        } catch {
            // A catalog hiccup (locked, disk full) must not end the server: log it and try again shortly.
            logger.error("planning failed, retrying: \(error)")
            nextDue = clock.now().addingTimeInterval(1)
        }
    }

    /// Units of the site's capacity not in use.
    func capacity(_ site: SiteConfig) -> Int {
        engine.registry.concurrency(of: site) * Self.slotUnits - perSite[site.name, default: 0]
    }

    /// What a lane may claim now: the capacity both sites have free, a small file costing what the more demanding
    /// of the two asks (a local folder shares its flushes among many small files; a connection-bound site does not).
    func claimBudget(_ source: SiteConfig, _ target: SiteConfig) -> ClaimBudget {
        let registry = engine.registry
        let smallCost = max(Self.slotUnits / registry.smallFilesPerSlot(of: source), Self.slotUnits / registry.smallFilesPerSlot(of: target))
        return ClaimBudget(units: min(capacity(source), capacity(target)), smallFileSize: ProviderDescription.smallFileSize,
                           smallCost: smallCost, largeCost: Self.slotUnits)
    }

    mutating func start(_ item: WorkItem, source: SiteConfig, target: SiteConfig, cost: Int) throws {
        let key = item.key
        guard let project = plan.projects[item.file.project] else {
            Task { [engine, owner] in try? await engine.catalog.releaseLeases(owner: owner, keys: [key]) }
            return
        }
        // A lane's sites are this project's own configurations of them.
        let (sourceConfig, targetConfig) = (source, target)
        let registry = engine.registry
        let transfer = VerifiedTransfer(
            item: item,
            source: .init(config: sourceConfig, provider: try provider(for: sourceConfig), capabilities: registry.capabilities(of: sourceConfig)),
            target: .init(config: targetConfig, provider: try provider(for: targetConfig), capabilities: registry.capabilities(of: targetConfig)),
            project: project, stagingDirectory: engine.environment.stagingDirectory)
        perSite[source.name, default: 0] += cost
        perSite[target.name, default: 0] += cost
        let sourceGroup = project.alternates.group(of: source.name)
        let clock = self.clock
        board.start(item, at: clock.now())
        let catalog = engine.catalog
        let owner = self.owner
        let completions = self.completions
        let continuation = self.continuation
        let board = self.board
        let attempt = nextAttempt
        nextAttempt += 1
        // The transfer's result, or the stall watchdog's verdict (`tick` checks every running transfer's progress),
        // whichever comes first.
        let result = Once<Result<WriteReport, any Error>>()
        let stallAfter = engine.environment.stallTimeout
        let abandon: @Sendable (Double) -> Void = { idle in
            result.resume(.failure(ProviderError(.transient,
                "stalled: no progress for \(Int(idle)) s (a hung connection or disk?); abandoned, to be tried again")))
        }
        let work = Task {
            do {
                result.resume(.success(try await transfer.run { board.set(key, $0) }))
            } catch {
                result.resume(.failure(error))
            }
        }
        let task = Task {
            let started = clock.now()
            let outcome: SyncServer.Outcome
            do {
                let report = try await withTaskCancellationHandler {
                    try await result.value().get()
                } onCancel: {
                    work.cancel()
                    // The loop no longer watches (it is shutting down): a call that ignores the cancellation is
                    // still abandoned once stalled, so the shutdown ends.
                    Task {
                        while !result.isSet, let idle = board.idleSeconds(key) {
                            if idle > stallAfter { return abandon(idle) }
                            try? await Task.sleep(nanoseconds: 200_000_000)
                        }
                    }
                }
                try Task.checkCancellation()
                let alternates = project.alternates.alternates(of: item.target)
                let completion = TransferCompletion(key, alternates: alternates, madeFrom: report.madeFrom)
                if try await Self.recording(clock: clock, { try await completions.submit(completion) }) {
                    outcome = .synced(.init(path: item.file.path, source: item.source, target: item.target,
                                            size: item.file.size, seconds: clock.now().timeIntervalSince(started)), report)
                } else {
                    outcome = .released
                }
            } catch {
                outcome = await Self.record(error, item: item, project: project, sourceGroup: sourceGroup,
                                            catalog: catalog, owner: owner, now: clock.now())
            }
            continuation.yield(.finished(attempt, outcome))
        }
        running[attempt] = Running(item: item, source: source, target: target, task: task, cost: cost, abandon: { idle in
            abandon(idle)
            work.cancel()
        })
    }

    /// The stall watchdog of every running transfer: one that moves no byte for `stallTimeout` seconds is abandoned
    /// and reported as a transient failure, so the file is tried again instead of holding its slot forever.
    mutating func abandonStalled() {
        let stallAfter = engine.environment.stallTimeout
        for (attempt, r) in running where !r.abandoned {
            if let idle = board.idleSeconds(r.item.key), idle > stallAfter {
                running[attempt]?.abandoned = true
                r.abandon(idle)
            }
        }
    }

    /// Records an outcome, waiting out a catalog that cannot be reached for a while (a database restarting): the
    /// bytes are in place and verified, so losing the record would only cost a second look later. Gives up after
    /// `patience` seconds or at shutdown; the lease then expires and another claim finds the copy in place.
    static func recording<T: Sendable>(clock: any WallClock, patience: TimeInterval = 60, _ body: @Sendable () async throws -> T) async throws -> T {
        var delay: UInt64 = 250_000_000
        let deadline = clock.now().addingTimeInterval(patience)
        while true {
            do {
                return try await body()
            } catch let error as CatalogError where error.isRetryable && clock.now() < deadline && !Task.isCancelled {
                try await Task.sleep(nanoseconds: delay)
                delay = min(delay * 2, 4_000_000_000)
            }
        }
    }


    /// Applies the failure policy's verdict to the catalog. A source copy found missing or corrupt is marked so
    /// (with its alternates: one storage) before the file goes back to the queue for another source.
    static func record(_ error: any Error, item: WorkItem, project: EffectiveProject, sourceGroup: Set<String>,
                       catalog: any Catalog, owner: String, now: Date) async -> SyncServer.Outcome {
        let verdict = FailurePolicy.decide(error, tries: item.tries, policy: project.retryPolicy, now: now,
                                           jitter: Double.random(in: 0..<1))
        var damaged: String?
        if let status = verdict.damagedSource {
            let how = "found \(status.rawValue) by a transfer to \(item.target) at \(now.formatted(.iso8601)): \(verdict.message)"
            _ = try? await catalog.markDamaged(fileID: item.file.id, sites: sourceGroup, status: status, problem: how, now: now)
            damaged = "\(item.file.path) on \(item.source) is \(status.rawValue)"
            // With no synced copy left anywhere, waiting for another source would wait forever: say so, as a failure.
            let others = (try? await catalog.states(ofRepresentation: item.file.representationID)) ?? []
            if !others.contains(where: { $0.fileID == item.file.id && $0.status == .synced }) {
                let message = "no good copy is left anywhere: \(item.source)'s is \(status.rawValue) (\(verdict.message)); restore the file, run `sitesync verify --site \(item.source) --representation \(item.file.representationID)` (it finds the copy good again), then `sitesync reset \(item.file.representationID) --site \(item.target)`"
                let failed = try? await catalog.failTransfer(item.key, owner: owner, error: message, retryAt: nil,
                                                             countsAsTry: false, now: now)
                return failed == nil ? .released : .failed(message, permanent: true, siteTrouble: false, damaged: damaged)
            }
        }
        let retryAt: Date?
        let countsAsTry: Bool
        switch verdict.decision {
        case .release:
            try? await catalog.releaseLeases(owner: owner, keys: [item.key])
            return .released
        case .retry(let at, let counts):
            retryAt = at
            countsAsTry = counts
        case .fail:
            retryAt = nil
            countsAsTry = true
        }
        let status = try? await catalog.failTransfer(item.key, owner: owner, error: verdict.message, retryAt: retryAt,
                                                     countsAsTry: countsAsTry, now: now)
        guard let status else { return .released }
        return .failed(verdict.message, permanent: status == .failed, siteTrouble: verdict.siteTrouble, damaged: damaged)
    }
}
