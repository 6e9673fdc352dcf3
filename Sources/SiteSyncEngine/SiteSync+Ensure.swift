import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    /// Where `ensure` stands, for a progress display.
    public struct EnsureProgress: Sendable {
        public var filesSynced: Int
        public var files: Int
        public var bytesSynced: Int64
        public var bytes: Int64
    }

    public struct EnsureReport: Sendable {
        public enum Outcome: String, Sendable, Codable { case synced, failed, pending }
        public struct Entry: Sendable {
            public var id: String
            public var outcome: Outcome
            /// Why it failed or is still pending; nil when synced.
            public var reason: String?
        }
        /// The active site the representations were made available on.
        public var site: String
        /// Every representation asked for and every one they were made from.
        public var entries: [Entry]
        /// No server picked the transfers up within a second, so this process ran them.
        public var ranTransfers: Bool

        public var allSynced: Bool { entries.allSatisfy { $0.outcome == .synced } }
        public var failed: [Entry] { entries.filter { $0.outcome == .failed } }
        public var pending: [Entry] { entries.filter { $0.outcome == .pending } }
    }

    /// Makes representations (and those they were made from) available on this machine's active site, verified,
    /// and waits for them — what a DCC launch hook or a loader's download button needs. Their transfers go first
    /// (`priority`); failed or damaged copies on the active site are queued again. When no running server picks
    /// the work up within a second, this process does the transfers itself (only these representations'), so a
    /// launch hook never depends on a daemon. Returns when every file is synced or failed, or after `wait`.
    public func ensure(_ ids: [String], wait: TimeInterval, priority: Int = 1000,
                       progress: @escaping @Sendable (EnsureProgress) -> Void = { _ in }) async throws -> EnsureReport {
        guard !ids.isEmpty else { throw SiteSyncError(.invalidInput, "name at least one representation") }
        var ids = ids
        for i in ids.indices { ids[i] = try await resolveRepresentationID(ids[i]) }
        let (first, p) = try await requireRepresentation(ids[0])
        _ = first
        let active = p.sync.activeSite
        // Every representation asked for, and (transitively) those they were made from.
        var all: [String] = []
        var pending = ids
        var seen: Set<String> = []
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            guard let rep = try await catalog.representation(next) else {
                if ids.contains(next) { throw CatalogError.unknownRepresentation(next) }
                logger.warning("input representation \(next) is not in the catalog; skipped")
                continue
            }
            all.append(next)
            pending += rep.inputs
        }
        var projects: Set<String> = []
        var siteOf: [String: String] = [:]
        for id in all {
            let rep = try await catalog.representation(id)
            let rp = try await project(rep?.context.project ?? p.name)
            let site = rp.sync.activeSite
            projects.insert(rp.name)
            siteOf[id] = site
            let rows = try await catalog.states(ofRepresentation: id).filter { $0.site == site }
            if rows.isEmpty {
                try await catalog.addSite(representation: id, site: site, group: rp.alternates.group(of: site),
                                          priority: priority, force: false, now: now())
            } else if rows.contains(where: { $0.status == .failed || $0.status.isDamaged }) {
                try await catalog.resetSite(representation: id, site: site, now: now())
            }
            if rows.contains(where: { $0.status != .synced }) || rows.isEmpty {
                try await catalog.setPriority(representation: id, priority: priority)
            }
        }

        let deadline = now().addingTimeInterval(wait)
        let started = now()
        var local: Task<RunSummary, any Error>?
        var localServer: SyncServer?
        defer { local?.cancel() }
        var report: EnsureReport
        var initiallySynced: Int?
        while true {
            let states = try await state(of: siteOf)
            progress(states.progress)
            if states.done { report = states.report(site: active, ranTransfers: local != nil); break }
            let synced = states.progress.filesSynced
            initiallySynced = initiallySynced ?? synced
            let moving = states.all.contains { $0.status == .inProgress } || synced > (initiallySynced ?? synced)
            if local == nil, now().timeIntervalSince(started) >= 1, !moving {
                // Nobody took the work within a second: do it here, only these representations.
                let server = SyncServer(engine: self, options: ServerOptions(projects: Array(projects), once: false,
                                                                             representations: all))
                localServer = server
                local = Task { try await server.runUntilIdle() }
            }
            if now() >= deadline {
                report = states.report(site: active, ranTransfers: local != nil)
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        if let local {
            local.cancel()
            if let summary = try? await local.value {
                // Say why a file is still waiting when its site could not be reached.
                for (i, entry) in report.entries.enumerated() where entry.outcome == .pending && !summary.unavailable.isEmpty {
                    let sites = summary.unavailable.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; ")
                    report.entries[i].reason = (entry.reason.map { $0 + "; " } ?? "") + "unavailable: \(sites)"
                }
            }
        }
        _ = localServer
        return report
    }

    struct EnsureState {
        var rows: [String: [FileSiteState]]
        var sizes: [String: Int64]

        var all: [FileSiteState] { rows.values.flatMap { $0 } }
        /// Every file synced or failed for good.
        var done: Bool { all.allSatisfy { $0.status == .synced || $0.status == .failed } }

        var progress: EnsureProgress {
            let synced = all.filter { $0.status == .synced }
            return EnsureProgress(filesSynced: synced.count, files: all.count,
                                  bytesSynced: synced.reduce(0) { $0 + (sizes[$1.fileID] ?? 0) },
                                  bytes: all.reduce(0) { $0 + (sizes[$1.fileID] ?? 0) })
        }

        func report(site: String, ranTransfers: Bool) -> EnsureReport {
            let entries = rows.keys.sorted().map { id -> EnsureReport.Entry in
                let files = rows[id] ?? []
                if !files.isEmpty && files.allSatisfy({ $0.status == .synced }) { return .init(id: id, outcome: .synced, reason: nil) }
                if let failed = files.first(where: { $0.status == .failed }) {
                    return .init(id: id, outcome: .failed, reason: failed.lastError ?? "failed")
                }
                let waiting = files.filter { $0.status != .synced }
                let reasons = Set(waiting.compactMap { $0.lastError }).sorted()
                let what = "\(waiting.count) of \(files.count) file(s) not synced yet (\(Set(waiting.map(\.status.rawValue)).sorted().joined(separator: ", ")))"
                return .init(id: id, outcome: .pending, reason: reasons.isEmpty ? what : "\(what); last error: \(reasons.joined(separator: "; "))")
            }
            return EnsureReport(site: site, entries: entries, ranTransfers: ranTransfers)
        }
    }

    /// The rows of each representation on its project's active site.
    func state(of siteOf: [String: String]) async throws -> EnsureState {
        var rows: [String: [FileSiteState]] = [:]
        var sizes: [String: Int64] = [:]
        for (id, site) in siteOf {
            rows[id] = try await catalog.states(ofRepresentation: id).filter { $0.site == site }
            for file in try await catalog.files(ofRepresentation: id) { sizes[file.id] = file.size }
        }
        return EnsureState(rows: rows, sizes: sizes)
    }
}

