import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

/// Moves one file from one site to another and proves it arrived intact.
///
/// The content is hashed while it streams and compared with the hash recorded at publish. Only then does the
/// file get its final name: a crash, a kill or a mismatch never leaves a partial file where a reader looks.
/// How the bytes move depends on what the two providers can do, never on which providers they are.
struct VerifiedTransfer: Sendable {
    struct End: Sendable {
        var config: SiteConfig
        var provider: any StorageProvider
        var capabilities: ProviderCapabilities
    }

    let item: WorkItem
    let source: End
    let target: End
    let project: EffectiveProject
    let stagingDirectory: String

    var expected: ContentDigest { ContentDigest(size: item.file.size, sha256: item.file.sha256) }

    /// What happened at the target: written, adopted (identical bytes were there) or a different file moved aside.
    func run(progress: @escaping ProgressHandler) async throws -> WriteReport {
        // A site without the file's root on this platform cannot take part; that is the site's state, not the
        // file's fault: no try is counted, and the site is reported unavailable.
        let sourcePath: String, targetPath: String
        do {
            sourcePath = try project.path(of: item.file.path, on: source.config)
            targetPath = try project.path(of: item.file.path, on: target.config)
        } catch let e as SettingsError {
            throw ProviderError(.unavailable, "\(e)")
        }
        if let identical = item.identical, var report = try await fromIdentical(identical, to: targetPath, progress: progress) {
            report.madeFrom = identical.path
            return report
        }
        if target.capabilities.contains(.localFolder) {
            return try await downloadInPlace(from: sourcePath, to: targetPath, progress: progress)
        } else if source.capabilities.contains(.localFolder) {
            return try await target.provider.upload(localFile: sourcePath, to: targetPath, expected: expected, progress: progress)
        } else {
            // Neither side is a local folder: stage through this machine, verified on the way in and out.
            let staging = stagingDirectory
            let staged = RootlessPath.join(staging, "\(item.file.id)-\(target.config.name).staging")
            try await BlockingIO.run { _ in try LocalFiles.createDirectories(staging) }
            defer { Task { _ = try? await BlockingIO.run { _ in LocalFiles.remove(staged) } } }
            let digest = try await readingSource { try await source.provider.download(sourcePath, to: staged) { progress($0 / 2) } }
            guard digest == expected else {
                throw await confirmed(ProviderError(.sourceCorrupt, "\(source.config.name):\(sourcePath) does not match the catalog: got \(digest), expected \(expected)"))
            }
            return try await target.provider.upload(localFile: staged, to: targetPath, expected: expected) {
                progress(self.item.file.size / 2 + $0 / 2)
            }
        }
    }

    /// Makes the copy from an identical file already verified on the target, when the target can copy on itself:
    /// a local copy on a local folder, a server-side copy on storage that has one. The result is verified like any
    /// write. nil when that was not possible (no such capability, or the identical copy is gone or damaged): the
    /// bytes then come from the source as usual. Only trouble with the target itself (its root gone) or a
    /// cancellation ends the transfer here.
    func fromIdentical(_ identical: IdenticalFile, to targetPath: String, progress: @escaping ProgressHandler) async throws -> WriteReport? {
        guard target.capabilities.contains(.localFolder) || target.capabilities.contains(.serverSideCopy),
              let identicalPath = try? project.path(of: identical.path, on: target.config) else { return nil }
        do {
            if target.capabilities.contains(.localFolder) {
                // Only a plain file of the right size, never what a link points at (a folder, a pipe, /dev/zero).
                let size = expected.size
                guard try await BlockingIO.run({ _ in LocalFiles.regularFileSize(identicalPath) == size }) else { return nil }
                let limit = target.config.bandwidthLimit
                let write = VerifiedLocalWrite(to: targetPath, expected: expected, source: "\(target.config.name):\(identicalPath)",
                                               root: targetRoot)
                return try await write.copy(from: identicalPath, bytesPerSecond: limit, progress: progress)
            }
            return try await target.provider.copy(identicalPath, to: targetPath, expected: expected)
        } catch let e as ProviderError where ![.cancelled, .unavailable].contains(e.kind) {
            return nil
        }
    }

    /// The target's root that holds the file, when the target is a local folder.
    var targetRoot: SiteRoot? {
        RootlessPath.split(item.file.path).flatMap { split in
            target.config.rootPaths(on: project.platform)[split.root].map { SiteRoot(path: $0, site: target.config.name, name: split.root) }
        }
    }

    /// A read of the source that finds no file means the catalog was wrong about the source copy.
    func readingSource<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as ProviderError where e.kind == .notFound {
            throw ProviderError(.sourceMissing, "\(source.config.name)'s copy is not there: \(e.message)")
        }
    }

    /// Into a local folder: temporary name, verified, renamed. A download that broke off keeps its bytes for
    /// the next try when the source can continue after them.
    func downloadInPlace(from sourcePath: String, to targetPath: String, progress: @escaping ProgressHandler) async throws -> WriteReport {
        let write = VerifiedLocalWrite(to: targetPath, expected: expected, source: "\(source.config.name):\(sourcePath)", root: targetRoot)
        if source.capabilities.contains(.localFolder) {
            // Disk to disk: one copy, throttled by the lower bandwidth limit of the two sites.
            let limit = [source.config.bandwidthLimit, target.config.bandwidthLimit].compactMap { $0 }.min()
            return try await write.copy(from: sourcePath, bytesPerSecond: limit, progress: progress)
        }
        do {
            if source.capabilities.contains(.resumableDownloads) {
                return try await write.run(keepInterrupted: true) { temporary, kept in
                    try await readingSource {
                        // Nothing kept: a plain download, without looking for an earlier attempt's bytes.
                        kept ? try await source.provider.download(sourcePath, continuing: temporary, progress: progress)
                             : try await source.provider.download(sourcePath, to: temporary, progress: progress)
                    }
                }
            }
            return try await write.run(keepInterrupted: false) { temporary, _ in
                try await readingSource { try await source.provider.download(sourcePath, to: temporary, progress: progress) }
            }
        } catch let e as ProviderError where e.kind == .sourceCorrupt {
            throw await confirmed(e)
        }
    }

    /// Bytes from a remote source that did not match may have been damaged on the way: the source copy is read
    /// again (or its stored hash asked) before it is called corrupt. Damaged on the way counts as a failed try.
    func confirmed(_ mismatch: ProviderError) async -> ProviderError {
        let check = CopyCheck(provider: source.provider, capabilities: source.capabilities, site: source.config,
                              project: project, scratch: stagingDirectory)
        switch try? await check.check(item.file, hash: true) {
        case .missing(let how)?: return ProviderError(.sourceMissing, how)
        case .corrupt?: return mismatch
        case .good?, nil:
            return ProviderError(.integrity, "the bytes from \(source.config.name) arrived damaged (its copy reads fine): \(mismatch.message)")
        }
    }
}
