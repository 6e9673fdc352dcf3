import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public struct VerifyOptions: Sendable {
        public var site: String?
        public var project: String?
        public var representation: String?
        /// Check only this share of the copies, those verified longest ago first (a scrub in slices).
        public var samplePercent: Double?
        /// Queue the copies found missing or corrupt (and those found so before) again.
        public var fix: Bool

        public init(site: String? = nil, project: String? = nil, representation: String? = nil,
                    samplePercent: Double? = nil, fix: Bool = false) {
            self.site = site
            self.project = project
            self.representation = representation
            self.samplePercent = samplePercent
            self.fix = fix
        }
    }

    public struct VerifyReport: Sendable {
        public var checked = 0
        public var good = 0
        /// "path on site: how it was found".
        public var missing: [String] = []
        public var corrupt: [String] = []
        /// Sites that could not be read from this machine, with the reason; their copies were not checked.
        public var skipped: [String: String] = [:]
        /// Copies queued again by `fix`.
        public var requeued = 0

        public var clean: Bool { missing.isEmpty && corrupt.isEmpty && skipped.isEmpty }
    }

    /// Reads copies back through their providers and records what is really there: good copies get a verified
    /// time (and a copy marked missing or corrupt that is good again is synced again); a missing or corrupt one
    /// stops being a source or a copy, with how and when it was found. With `fix` those are queued again, to be
    /// healed from any good copy.
    public func verify(_ options: VerifyOptions) async throws -> VerifyReport {
        if let samplePercent = options.samplePercent, !(samplePercent > 0 && samplePercent <= 100) {
            throw SiteSyncError(.invalidInput, "--sample \(samplePercent)%: give a share between 0 and 100, e.g. --sample 10%")
        }
        let ctx = try await context()
        var site: String?
        if let name = options.site { site = try await requireKnownSite(name) }
        var options = options
        if let id = options.representation { options.representation = try await resolveRepresentationID(id) }
        if let project = options.project, !(try await catalog.projects().contains { $0.name == project }) {
            throw CatalogError.unknownProject(project)
        }
        var copies = try await catalog.copies(site: site, project: options.project, representation: options.representation, limit: nil)
        if let share = options.samplePercent {
            copies = Array(copies.prefix(Int((Double(copies.count) * share / 100).rounded(.up))))
        }
        var report = VerifyReport()
        var checkers: [String: CopyCheck] = [:]
        var done: Set<String> = []   // file × storage already read in this run (alternates share storage)
        var checkedSites: Set<String> = []
        for copy in copies {
            let project: EffectiveProject
            do { project = try ctx.project(copy.file.project) } catch {
                report.skipped["project \(copy.file.project)"] = "\(error)"
                continue
            }
            guard let config = project.sites[copy.state.site] else {
                report.skipped[copy.state.site] = "not reachable from this machine (another machine's own site); verify it there"
                continue
            }
            let group = project.alternates.group(of: config.name)
            guard done.insert("\(copy.file.id)|\(group.sorted().joined(separator: ","))").inserted else { continue }
            let key = "\(project.name)|\(config.name)"
            if checkers[key] == nil {
                do {
                    let provider = try registry.make(config, platform: project.platform)
                    try await readyForChecks(config, provider: provider, project: project)
                    checkers[key] = CopyCheck(provider: provider, capabilities: registry.capabilities(of: config), site: config,
                                              project: project, scratch: environment.stagingDirectory)
                } catch {
                    report.skipped[config.name] = "\(error)"
                    continue
                }
            }
            guard let checker = checkers[key] else { continue }
            let outcome: CopyCheck.Outcome
            do {
                outcome = try await checker.check(copy.file, hash: true)
            } catch {
                // One unreadable copy (permissions, an I/O error) is reported; the others are still checked.
                report.skipped["\(copy.file.path) on \(config.name)"] = "\(error)"
                continue
            }
            report.checked += 1
            checkedSites.formUnion(group)
            let at = now()
            switch outcome {
            case .good:
                report.good += 1
                try await catalog.markVerified(fileID: copy.file.id, sites: group, now: at)
            case .missing(let how):
                report.missing.append("\(copy.file.path) on \(config.name): \(how)")
                try await catalog.markDamaged(fileID: copy.file.id, sites: group, status: .missing,
                                              problem: "found missing by verify at \(APITime.iso(at)): \(how)", now: at)
            case .corrupt(let how):
                report.corrupt.append("\(copy.file.path) on \(config.name): \(how)")
                try await catalog.markDamaged(fileID: copy.file.id, sites: group, status: .corrupt,
                                              problem: "found corrupt by verify at \(APITime.iso(at)): \(how)", now: at)
            }
        }
        if options.fix {
            // Only on sites that were read: copies on a site that could not be checked stay as they are.
            for checked in checkedSites.sorted() {
                report.requeued += try await catalog.requeueDamaged(site: checked, project: options.project,
                                                                    representation: options.representation, now: now())
            }
        }
        return report
    }
}

extension SiteSync {
    /// The site can be read back: reachable, and — for a local folder — its root not empty while the catalog lists
    /// copies there (an unmounted share is not "every copy missing"; nothing is marked or queued for it).
    func readyForChecks(_ config: SiteConfig, provider: any StorageProvider, project: EffectiveProject) async throws {
        _ = try await check(provider, site: config.name)
        if registry.capabilities(of: config).contains(.localFolder) {
            let roots = Array(config.rootPaths(on: project.platform).values)
            if try await BlockingIO.run({ _ in roots.allSatisfy(LocalFiles.isEmptyFolder) }) {
                throw ProviderError(.unavailable, "its root (\(roots.sorted().joined(separator: ", "))) is empty while the catalog lists copies there (an unmounted share?); mount it, or `sitesync reset` the copies if they are really gone")
            }
        }
    }

    public struct ScrubResult: Sendable {
        public var checked = 0
        public var bytes: Int64 = 0
        /// "path: how" for copies found missing or corrupt (queued again to be healed).
        public var damaged: [String] = []
    }

    /// One slice of a site's background scrub: up to `maxFiles` of its copies in `project` not verified since
    /// `olderThan` (oldest first) are read back at no more than `bytesPerSecond`; good ones get a verified time,
    /// missing or corrupt ones are marked and queued again, to be healed from any good copy.
    public func scrubSlice(_ config: SiteConfig, project: EffectiveProject, olderThan: Date, maxFiles: Int,
                           bytesPerSecond: Int64?) async throws -> ScrubResult {
        let provider = try registry.make(config, platform: project.platform)
        try await readyForChecks(config, provider: provider, project: project)
        let checker = CopyCheck(provider: provider, capabilities: registry.capabilities(of: config), site: config,
                                project: project, scratch: environment.stagingDirectory)
        let group = project.alternates.group(of: config.name)
        let due = try await catalog.copies(site: config.name, project: project.name, representation: nil, limit: maxFiles)
            .filter { $0.state.status == .synced && ($0.state.verifiedAt ?? .distantPast) < olderThan }
        var result = ScrubResult()
        let throttle = Throttle(bytesPerSecond)
        for copy in due {
            try Task.checkCancellation()
            let outcome = try await checker.check(copy.file, hash: true)
            result.checked += 1
            result.bytes += copy.file.size
            let at = now()
            switch outcome {
            case .good:
                try await catalog.markVerified(fileID: copy.file.id, sites: group, now: at)
            case .missing(let how), .corrupt(let how):
                let status: FileSyncStatus = { if case .missing = outcome { return .missing }; return .corrupt }()
                try await catalog.markDamaged(fileID: copy.file.id, sites: group, status: status,
                                              problem: "found \(status.rawValue) by the background scrub at \(APITime.iso(at)): \(how)", now: at)
                try await catalog.requeueDamaged(site: config.name, project: project.name,
                                                 representation: copy.file.representationID, now: at)
                result.damaged.append("\(copy.file.path) on \(config.name): \(how)")
            }
            let wait = throttle.delay(after: result.bytes)
            if wait > 0 { try await Task.sleep(nanoseconds: wait) }
        }
        return result
    }
}

/// Times in messages: ISO 8601 UTC.
enum APITime {
    static func iso(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false)) }
}
