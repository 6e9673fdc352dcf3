import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public struct WorkfileResult: Sendable {
        public enum Action: String, Sendable, Codable {
            /// A work file for the task was already in the work area: nothing changed.
            case existing
            /// The last published workfile was made available and copied in as the next version.
            case created
            /// No workfile was ever published for this folder and task.
            case none
        }
        public var action: Action
        /// The work file to open (absolute, on this machine); nil for `none`.
        public var path: String?
        /// Its version.
        public var version: Int?
        /// The published workfile it was made from (`created`).
        public var published: RepresentationRecord?
        /// The representations it was made from, made available with it.
        public var inputs: [String]
    }

    /// The work file for a task on this machine, as a DCC launch hook needs it: the highest existing version in the
    /// work area; else the last published workfile of the folder and task (and host) — with everything it was made
    /// from — made available here, verified, and copied in as the published version + 1 (temporary name, then
    /// rename; never over an existing file). Throws `timedOut` when the transfers do not finish within `wait`.
    public func workfile(project name: String, folder: String, task: String, host: String?, wait: TimeInterval,
                         progress: @escaping @Sendable (EnsureProgress) -> Void = { _ in }) async throws -> WorkfileResult {
        _ = try await defaultProjectName(name)
        let p = try await project(name)
        let active = try p.site(p.sync.activeSite)
        guard capabilities(of: active).contains(.localFolder) else {
            throw SiteSyncError(.invalidInput, "the active site of project '\(name)' is '\(active.name)', which is not a folder on this machine; a work file needs one (`sitesync local set --project \(name) --active-site local`)")
        }
        let template = p.sync.workTemplate
        let anyExtension = WorkFileKey(project: name, folder: folder, task: task, host: host, ext: "")
        if let existing = try await highestWorkFile(anyExtension, template: template, on: active, in: p) {
            return WorkfileResult(action: .existing, path: existing.path, version: existing.version, published: nil, inputs: [])
        }
        guard let published = try await catalog.latestRepresentation(project: name, folder: folder,
                                                                      productType: RepresentationContext.workfile,
                                                                      task: task, host: host) else {
            return WorkfileResult(action: .none, path: nil, version: nil, published: nil, inputs: [])
        }
        let report = try await ensure([published.id], wait: wait, progress: progress)
        let inputs = report.entries.map(\.id).filter { $0 != published.id }
        if let failed = report.failed.first {
            throw SiteSyncError(.internal, "cannot make the workfile available: representation \(failed.id) failed: \(failed.reason ?? "")")
        }
        if !report.pending.isEmpty {
            let what = report.pending.map { "\($0.id): \($0.reason ?? "pending")" }.joined(separator: "; ")
            throw SiteSyncError(.timedOut, "the workfile is not available after \(Int(wait)) s; still waiting for \(what). It goes on in the background: run the command again later (a larger --wait), or see `sitesync show ID`")
        }
        // The published file (the first, when a workfile has several) becomes the next version in the work area.
        guard let file = try await catalog.files(ofRepresentation: published.id).first else {
            throw SiteSyncError(.internal, "the published workfile \(published.id) has no files")
        }
        let name0 = (file.path as NSString).lastPathComponent
        let ext = (name0 as NSString).pathExtension.isEmpty ? "" : "." + (name0 as NSString).pathExtension
        let key = WorkFileKey(project: name, folder: folder, task: task, host: host, product: published.context.product, ext: ext)
        let version = published.context.version + 1
        let source = try p.path(of: file.path, on: active)
        let rootless = try template.workPath(key, version: version)
        let target = try p.path(of: rootless, on: active)
        let root = RootlessPath.split(rootless).flatMap { split in
            active.rootPaths(on: p.platform)[split.root].map { SiteRoot(path: $0, site: active.name, name: split.root) }
        }
        let write = VerifiedLocalWrite(to: target, expected: ContentDigest(size: file.size, sha256: file.sha256),
                                       source: "\(active.name):\(source)", root: root)
        try await BlockingIO.run { flag in
            guard !LocalFiles.exists(target) else {
                throw SiteSyncError(.conflict, "\(target) already exists; it was not overwritten")
            }
            _ = try write.run(flag: flag) { temporary in
                try LocalFiles.copy(from: source, to: temporary, bytesPerSecond: nil, flag: flag, progress: { _ in })
            }
        }
        logger.info("work file \(target) made from \(published.id) (v\(published.context.version))")
        return WorkfileResult(action: .created, path: target, version: version, published: published, inputs: inputs)
    }

    /// The highest-versioned work file of the task already in the work area, if any (any extension).
    func highestWorkFile(_ key: WorkFileKey, template: PathTemplate, on site: SiteConfig,
                         in p: EffectiveProject) async throws -> (path: String, version: Int)? {
        let (rootlessFolder, versionOf) = try template.workVersions(key)
        let folder = try p.path(of: rootlessFolder, on: site)
        return try await BlockingIO.run { _ in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            let found = names.compactMap { name in versionOf(name).map { (path: "\(folder)/\(name)", version: $0) } }
                .filter { !LocalFiles.isTemporary(($0.path as NSString).lastPathComponent) }
            return found.max { ($0.version, $0.path) < ($1.version, $1.path) }
        }
    }
}
