import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

/// Reads a copy back through its provider and says whether it is really there and really the file.
/// `verify` and `remove-site` both ask it; neither trusts the catalog's word alone.
struct CopyCheck: Sendable {
    enum Outcome: Equatable, Sendable {
        case good
        case missing(String)
        case corrupt(String)
    }

    let provider: any StorageProvider
    let capabilities: ProviderCapabilities
    let site: SiteConfig
    let project: EffectiveProject
    let scratch: String

    /// `hash` false: present with the right size is enough (a quick check); true: the bytes are read and hashed,
    /// or — where the storage reports its own hash and the bytes cannot be read cheaply — that hash is compared.
    func check(_ file: FileRecord, hash: Bool) async throws -> Outcome {
        let path = try project.path(of: file.path, on: site)
        let expected = ContentDigest(size: file.size, sha256: file.sha256)
        if capabilities.contains(.localFolder) {
            return try await BlockingIO.run { flag in
                guard LocalFiles.exists(path) else { return .missing("\(path) is not there") }
                guard let size = LocalFiles.regularFileSize(path) else {
                    return .corrupt("\(path) is not a plain file (a folder or a symbolic link is in its place)")
                }
                guard size == file.size else { return .corrupt("\(path) holds \(size) bytes, the catalog says \(file.size)") }
                guard hash else { return .good }
                let digest = try LocalFiles.digest(of: path, flag: flag)
                return digest == expected ? .good : .corrupt("\(path) hashes to \(digest.sha256), the catalog says \(file.sha256)")
            }
        }
        guard let info = try await provider.stat(path) else { return .missing("\(path) is not there") }
        guard info.size == file.size else { return .corrupt("\(path) holds \(info.size) bytes, the catalog says \(file.size)") }
        guard hash else { return .good }
        if capabilities.contains(.reportsContentHash), let stored = try await provider.storedDigest(path) {
            return stored == expected ? .good : .corrupt("the storage's hash of \(path) is \(stored.sha256), the catalog says \(file.sha256)")
        }
        let local = RootlessPath.join(scratch, "verify-\(file.id)-\(site.name)")
        defer { Task { _ = try? await BlockingIO.run { _ in LocalFiles.remove(local) } } }
        try await BlockingIO.run { [scratch] _ in try LocalFiles.createDirectories(scratch) }
        let digest: ContentDigest
        do {
            digest = try await provider.download(path, to: local, progress: { _ in })
        } catch let e as ProviderError where e.kind == .notFound {
            return .missing("\(path) is not there")
        }
        return digest == expected ? .good : .corrupt("\(path) hashes to \(digest.sha256), the catalog says \(file.sha256)")
    }
}
