import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

/// Moves one file from one site to another and proves it arrived intact.
///
/// The content is hashed while it streams and compared with the hash recorded at publish. Only then does the
/// file get its final name: a crash, a kill or a mismatch never leaves a partial file where a reader looks.
struct VerifiedTransfer: Sendable {
    let item: WorkItem
    let source: SiteConfig
    let target: SiteConfig
    let sourceProvider: any StorageProvider
    let targetProvider: any StorageProvider
    let project: EffectiveProject
    let stagingDirectory: String

    var expected: ContentDigest { ContentDigest(size: item.file.size, sha256: item.file.sha256) }

    func run(progress: @escaping ProgressHandler) async throws {
        let sourcePath = try project.path(of: item.file.path, on: source)
        let targetPath = try project.path(of: item.file.path, on: target)
        if target.provider == SiteConfig.localDrive {
            try await downloadInPlace(from: sourcePath, to: targetPath, progress: progress)
        } else if source.provider == SiteConfig.localDrive {
            try await targetProvider.upload(localFile: sourcePath, to: targetPath, expected: expected, progress: progress)
        } else {
            // Neither side is a local folder: stage through this machine, verified on the way in and out.
            try LocalFiles.createDirectories(stagingDirectory)
            let staged = RootlessPath.join(stagingDirectory, "\(item.file.id)-\(target.name).staging")
            defer { LocalFiles.remove(staged) }
            let digest = try await sourceProvider.download(sourcePath, to: staged) { progress($0 / 2) }
            try verify(digest, what: "\(source.name):\(sourcePath)")
            try await targetProvider.upload(localFile: staged, to: targetPath, expected: expected) {
                progress(self.item.file.size / 2 + $0 / 2)
            }
        }
    }

    func downloadInPlace(from sourcePath: String, to targetPath: String, progress: @escaping ProgressHandler) async throws {
        try LocalFiles.createDirectories((targetPath as NSString).deletingLastPathComponent)
        let temporary = LocalFiles.temporaryPath(for: targetPath)
        do {
            let digest: ContentDigest
            if source.provider == SiteConfig.localDrive {
                // Disk to disk: one copy, throttled by the lower bandwidth limit of the two sites.
                let limits = [source.bandwidthLimit, target.bandwidthLimit].compactMap { $0 }
                digest = try await BlockingIO.run { flag in
                    try LocalFiles.copy(from: sourcePath, to: temporary, bytesPerSecond: limits.min(), flag: flag,
                                        progress: progress)
                }
            } else {
                digest = try await sourceProvider.download(sourcePath, continuing: temporary, progress: progress)
            }
            try verify(digest, what: "\(source.name):\(sourcePath)")
            try LocalFiles.rename(temporary, to: targetPath)
        } catch {
            // A download from a remote site that broke off keeps its bytes for the next try to continue after;
            // anything that failed verification, or a local copy, starts over.
            let kind = (error as? ProviderError)?.kind
            let interrupted = error is CancellationError || [.transient, .unavailable, .cancelled, .quota].contains(kind)
            let keep = source.provider != SiteConfig.localDrive && interrupted
            if !keep { LocalFiles.remove(temporary) }
            throw error
        }
    }

    func verify(_ digest: ContentDigest, what: String) throws {
        guard digest == expected else {
            throw ProviderError(.integrity, "\(what) does not match the catalog: got \(digest), expected \(expected)")
        }
    }
}
