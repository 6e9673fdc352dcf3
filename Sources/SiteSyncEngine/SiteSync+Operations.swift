import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    /// Queues the representation for `site` (synced at once where an alternate already has it).
    @discardableResult
    public func addSite(_ id: String, site: String, priority: Int?, force: Bool) async throws -> String {
        let id = try await resolveRepresentationID(id)
        let (_, p) = try await requireRepresentation(id)
        let real = try p.site(site).name
        try await catalog.addSite(representation: id, site: real, group: p.alternates.group(of: real),
                                  priority: priority, force: force, now: now())
        return real
    }

    /// Adds this machine's active site to the representation and to the representations it was made from.
    /// Returns the ids queued (already present ones are left as they are).
    public func download(_ id: String, priority: Int?) async throws -> (site: String, queued: [String]) {
        let id = try await resolveRepresentationID(id)
        let (_, p) = try await requireRepresentation(id)
        let active = p.sync.activeSite
        var queued: [String] = []
        var seen: Set<String> = []
        var pending = [id]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            guard let rep = try await catalog.representation(next) else {
                logger.warning("input representation \(next) of \(id) is not in the catalog; skipped")
                continue
            }
            pending += rep.inputs
            let rp = try await project(rep.context.project)
            do {
                try await catalog.addSite(representation: next, site: active, group: rp.alternates.group(of: active),
                                          priority: priority, force: false, now: now())
                queued.append(next)
            } catch CatalogError.siteAlreadyPresent {
                continue
            }
        }
        return (active, queued)
    }

    public struct RemovalResult: Sendable {
        public var removedSites: [String]
        public var deletedFiles: [String]
        public var undeletable: [String]
    }

    /// Deletes a site's copies and its rows. Before anything is deleted, the other copies it relies on are read
    /// back through their providers (size; with `verify`, the hash): every file must keep at least the project's
    /// `min_copies` copies that are really there, else nothing happens and the copies that are not really there
    /// are named (and marked missing or corrupt). Alternates share the storage, so their rows go too.
    public func removeSite(_ id: String, site: String, keepFiles: Bool, verify: Bool = false) async throws -> RemovalResult {
        let id = try await resolveRepresentationID(id)
        let (_, p) = try await requireRepresentation(id)
        let real = p.realName(site)
        let config = p.sites[real]
        if config == nil && !keepFiles {
            throw SiteSyncError(.notFound, "site '\(real)' is not reachable from this machine (it is not in the settings of project '\(p.name)'); run remove-site on the machine that owns it, or keep the files and only forget it in the catalog (`remove-site --keep-files`)")
        }
        let group = p.alternates.group(of: real)
        let files = try await catalog.files(ofRepresentation: id)
        let states = try await catalog.states(ofRepresentation: id)
        let present = Set(states.filter { group.contains($0.site) }.map(\.fileID))
        // Only copies SiteSync recorded as written there may be deleted, and only while they are still its bytes.
        let ours = Set(states.filter { group.contains($0.site) && $0.status == .synced }.map(\.fileID))
        try await requireOtherCopies(of: files.filter { present.contains($0.id) }, states: states, excluding: group,
                                     project: p, hash: verify)
        try await catalog.removeSites(representation: id, sites: group)
        var deleted: [String] = []
        var failed: [String] = []
        if let config, !keepFiles {
            let provider = try registry.make(config, platform: p.platform)
            let checker = CopyCheck(provider: provider, capabilities: registry.capabilities(of: config), site: config,
                                    project: p, scratch: environment.stagingDirectory)
            // Local copies are hashed before they go (cheap); remote ones are checked by size (hashed with --verify).
            let hash = verify || registry.capabilities(of: config).contains(.localFolder)
            for file in files where ours.contains(file.id) {
                do {
                    let path = try p.path(of: file.path, on: config)
                    switch try await checker.check(file, hash: hash) {
                    case .missing:
                        continue
                    case .corrupt(let how):
                        failed.append("\(file.path): left in place: it is not the copy SiteSync wrote (\(how))")
                        continue
                    case .good:
                        break
                    }
                    let root = RootlessPath.split(file.path).flatMap { config.rootPaths(on: p.platform)[$0.root] }
                    try await provider.delete(path, pruneUpTo: root)
                    deleted.append(path)
                } catch {
                    failed.append("\(file.path): \(error)")
                }
            }
        }
        return RemovalResult(removedSites: group.sorted(), deletedFiles: deleted, undeletable: failed)
    }

    /// Every file keeps `min_copies` synced copies outside `excluding` that this machine finds really there.
    /// Copies on sites it cannot reach (another machine's own site) are not counted: they cannot be checked.
    func requireOtherCopies(of files: [FileRecord], states: [FileSiteState], excluding: Set<String>,
                            project p: EffectiveProject, hash: Bool) async throws {
        let needed = p.sync.minCopies
        var checkers: [String: CopyCheck] = [:]
        var problems: [String] = []
        let byFile = Dictionary(grouping: states.filter { $0.status == .synced && !excluding.contains($0.site) }, by: \.fileID)
        let damaged = Dictionary(grouping: states.filter { $0.status.isDamaged && !excluding.contains($0.site) }, by: \.fileID)
        for file in files {
            var good = 0
            var storages: Set<String> = []
            var notes = (damaged[file.id] ?? []).map { "\($0.site)'s copy was found \($0.status.rawValue)\($0.problem.map { " (\($0))" } ?? "")" }
            for state in (byFile[file.id] ?? []).sorted(by: { $0.site < $1.site }) where good < needed {
                let group = p.alternates.group(of: state.site)
                guard storages.insert(group.sorted().joined(separator: ",")).inserted else { continue }
                guard let config = p.sites[state.site] else {
                    notes.append("\(state.site)'s copy cannot be checked from this machine")
                    continue
                }
                if checkers[config.name] == nil {
                    checkers[config.name] = CopyCheck(provider: try registry.make(config, platform: p.platform),
                                                      capabilities: registry.capabilities(of: config), site: config,
                                                      project: p, scratch: environment.stagingDirectory)
                }
                guard let checker = checkers[config.name] else { continue }
                let outcome: CopyCheck.Outcome
                do {
                    outcome = try await checker.check(file, hash: hash || checker.capabilities.contains(.localFolder))
                } catch {
                    notes.append("\(config.name)'s copy could not be checked: \(error)")
                    continue
                }
                let at = now()
                switch outcome {
                case .good:
                    good += 1
                case .missing(let how):
                    notes.append("\(config.name)'s copy is missing (\(how))")
                    try await catalog.markDamaged(fileID: file.id, sites: group, status: .missing,
                                                  problem: "found missing by remove-site at \(APITime.iso(at)): \(how)", now: at)
                case .corrupt(let how):
                    notes.append("\(config.name)'s copy is corrupt (\(how))")
                    try await catalog.markDamaged(fileID: file.id, sites: group, status: .corrupt,
                                                  problem: "found corrupt by remove-site at \(APITime.iso(at)): \(how)", now: at)
                }
            }
            if good < needed {
                problems.append("\(file.path) would keep \(good) checked cop\(good == 1 ? "y" : "ies") (min_copies \(needed))\(notes.isEmpty ? "" : ": " + notes.joined(separator: "; "))")
            }
        }
        guard problems.isEmpty else {
            throw SiteSyncError(.conflict, "refusing to remove: \(problems.prefix(5).joined(separator: " | "))\(problems.count > 5 ? " (and \(problems.count - 5) more)" : ""); sync the file to another site first (`sitesync add-site`), or `sitesync verify --fix` to heal damaged copies")
        }
    }

    @discardableResult
    public func reset(_ id: String, site: String) async throws -> Int {
        let id = try await resolveRepresentationID(id)
        let (_, p) = try await requireRepresentation(id)
        return try await catalog.resetSite(representation: id, site: p.realName(site), now: now())
    }

    public func setPriority(_ id: String, _ priority: Int) async throws {
        let id = try await resolveRepresentationID(id)
        try await catalog.setPriority(representation: id, priority: priority)
    }

    public enum PauseScope: Sendable {
        case server
        case project(String)
        case representation(String)
    }

    public func setPaused(_ scope: PauseScope, _ paused: Bool) async throws {
        switch scope {
        case .server: try await catalog.setServerPaused(paused)
        case .project(let name): try await catalog.setProjectPaused(name, paused: paused)
        case .representation(let id):
            try await catalog.setRepresentationPaused(try await resolveRepresentationID(id), paused: paused, now: now())
        }
    }
}
