import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public struct PublishResult: Sendable {
        public var representation: RepresentationRecord
        public var files: [FileRecord]
        public var sites: [String: FileSyncStatus]
        /// Files that were in the way at the publish path and were moved aside (never overwritten).
        public var conflicts: [String] = []
    }

    /// Registers a representation from files on disk: hashes them, copies them (verified) into the active site
    /// under the publish template, and records the active site synced and the remote and
    /// `always_accessible_on` sites queued.
    public func publish(_ context: RepresentationContext, files sources: [String], inputs: [String] = [],
                        priority: Int = 50) async throws -> PublishResult {
        try context.validate()
        guard !sources.isEmpty else { throw SiteSyncError(.invalidInput, "nothing to publish: name at least one file") }
        guard try await catalog.projects().contains(where: { $0.name == context.project }) else {
            throw CatalogError.unknownProject(context.project)
        }
        if let existing = try await catalog.representationID(for: context) {
            throw CatalogError.duplicateRepresentation(existingID: existing, context)
        }
        for input in inputs where try await catalog.representation(input) == nil {
            throw SiteSyncError(.notFound, "input representation '\(input)' is not in the catalog; publish it first or check the id (`sitesync status`)")
        }
        let p = try await project(context.project)
        let active = try p.site(p.sync.activeSite)
        let provider = try registry.make(active, platform: p.platform)
        do {
            _ = try await check(provider, site: active.name)
        } catch {
            throw SiteSyncError(ErrorKind.of(error) == .invalidInput ? .invalidInput : .unavailable,
                                "cannot publish to the active site '\(active.name)': \(error)")
        }

        // Validate every source before copying anything.
        let unreadable = try await BlockingIO.run { _ in sources.filter { LocalFiles.fileSize($0) == nil } }
        if let first = unreadable.first {
            let missing = !LocalFiles.exists(first)
            throw SiteSyncError(missing ? .notFound : .invalidInput, "\(first) \(missing ? "does not exist" : "is not a readable file")")
        }
        var names: Set<String> = []
        for source in sources {
            let name = URL(fileURLWithPath: source).lastPathComponent
            guard names.insert(name).inserted else {
                throw SiteSyncError(.invalidInput, "two files are named '\(name)'; a representation's files need distinct names")
            }
        }

        let folder = try p.sync.publishTemplate.folder(for: context)
        // Another representation's file at one of these paths: refused before anything is written.
        if let taken = try await catalog.takenPaths(project: context.project,
                                                    paths: sources.map { folder + "/" + URL(fileURLWithPath: $0).lastPathComponent }).first {
            throw CatalogError.duplicatePath(taken)
        }
        let representationID = UUID().uuidString.lowercased()
        let local = capabilities(of: active).contains(.localFolder)
        var records: [FileRecord] = []
        var written: [String] = []
        var conflicts: [String] = []
        do {
            for source in sources {
                let name = URL(fileURLWithPath: source).lastPathComponent
                let rootless = folder + "/" + name
                let target = try p.path(of: rootless, on: active)
                let report: WriteReport
                if local {
                    // One read pass: the copy's own hash is what the catalog records. A file already in place (the
                    // artist saved straight into the publish folder) is only hashed.
                    let root = RootlessPath.split(rootless).flatMap { split in
                        active.rootPaths(on: p.platform)[split.root].map { SiteRoot(path: $0, site: active.name, name: split.root) }
                    }
                    let write = VerifiedLocalWrite(to: target, expected: nil, source: source, root: root)
                    report = try await BlockingIO.run { flag in
                        if Self.sameFile(source, target) {
                            return WriteReport(digest: try LocalFiles.whileUnchanged(source) { try LocalFiles.digest(of: source, flag: flag) },
                                               adopted: true)
                        }
                        // The source must not change while it is copied; checked before the copy gets its name.
                        return try write.run(flag: flag) { temporary in
                            try LocalFiles.whileUnchanged(source) {
                                try LocalFiles.copy(from: source, to: temporary, bytesPerSecond: nil, flag: flag, progress: { _ in })
                            }
                        }
                    }
                } else {
                    let digest = try await BlockingIO.run { flag in
                        try LocalFiles.whileUnchanged(source) { try LocalFiles.digest(of: source, flag: flag) }
                    }
                    report = try await provider.upload(localFile: source, to: target, expected: digest, progress: { _ in })
                }
                if !report.adopted { written.append(target) }
                if let aside = report.movedAside {
                    conflicts.append(aside)
                    logger.warning("a different file was at \(target): moved aside to \(aside), not overwritten")
                }
                records.append(FileRecord(id: UUID().uuidString.lowercased(), representationID: representationID,
                                          project: context.project, path: rootless, size: report.digest.size, sha256: report.digest.sha256))
            }
        } catch {
            // Nothing is stored: the copies this publish made go again (they are ours, made a moment ago).
            for path in written { try? await provider.delete(path, pruneUpTo: nil) }
            if let e = error as? ProviderError, e.kind == .sourceCorrupt || e.kind == .sourceMissing {
                throw SiteSyncError(.invalidInput, "\(e.message); publish it again once it is finished")
            }
            throw error
        }
        let sites = p.publishSites()
        let record = RepresentationRecord(id: representationID, context: context, createdAt: now(), inputs: inputs)
        try await catalog.insertRepresentation(record, files: records, sites: sites, priority: priority, now: now())
        logger.info("published \(context.project)/\(context.folder)/\(context.product) v\(context.version) '\(context.name)' (\(records.count) files) as \(representationID)")
        return PublishResult(representation: record, files: records, sites: sites, conflicts: conflicts)
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
#if canImport(Glibc)
import Glibc
#endif
