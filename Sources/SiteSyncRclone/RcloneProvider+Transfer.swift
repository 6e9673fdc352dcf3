import Foundation
import SiteSyncModel
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// Uploads and downloads: rclone moves the bytes, SiteSync proves them.
extension RcloneProvider {
    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        let fs = try await fsInfo()
        let source = try await SourceHashes.of(localFile, also: fs.proof)
        guard source.digest == expected else {
            throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(source.digest), expected \(expected)")
        }
        if fs.folders, let root = SiteRoot.containing(path, roots: settings.roots, site: siteName) {
            guard let r = try await item(root.path), r.IsDir else {
                throw ProviderError(.unavailable, "root '\(root.name)' of site '\(siteName)' is \(root.path), which does not exist on \(RcloneDaemon.redact(settings.remote)); create it there (SiteSync never creates a site root) or fix the site's roots")
            }
        }
        var inTheWay = false
        if let existing = try await item(path, hash: fs.proof) {
            if existing.IsDir {
                throw ProviderError(.configuration, "site '\(siteName)': a folder is at \(path), where a file belongs; move it away")
            }
            if try await holds(existing, path: path, source: source, proof: fs.proof) {
                return WriteReport(digest: expected, adopted: true)
            }
            inTheWay = true
        }
        let temporary = LocalFiles.temporaryPath(for: path)
        do {
            try await job("operations/copyfile", ["srcFs": .string("/"), "srcRemote": .string(Self.local(localFile)),
                                                   "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(temporary))],
                          size: expected.size, progress: progress)
            // A cancelled transfer stops here even when rclone finished the copy: nothing goes under the final name.
            if Task.isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
            try await prove(temporary, final: path, source: source, proof: fs.proof)
        } catch {
            // Outside the (possibly cancelled) task, so the temporary file goes whatever ended the upload.
            let params: [String: ConfigValue] = ["fs": .string(settings.rootFs), "remote": .string(rel(temporary))]
            await Task.detached { _ = try? await self.rc("operations/deletefile", params) }.value
            throw error
        }
        var aside: String?
        if inTheWay { aside = try await moveAside(path) }
        // movefile replaces what is at its target: look first (a file that appeared since is kept, not replaced).
        if try await item(path) != nil {
            throw ProviderError(.transient, "site '\(siteName)': something was written to \(path) meanwhile; the next try looks again")
        }
        try await move(temporary, to: path)
        progress(expected.size)
        return WriteReport(digest: expected, movedAside: aside)
    }

    func move(_ from: String, to: String) async throws {
        _ = try await rc("operations/movefile", ["srcFs": .string(settings.rootFs), "srcRemote": .string(rel(from)),
                                                 "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(to))])
    }

    /// The uploaded bytes, by the backend's strongest hash SiteSync can compute, or read back.
    func prove(_ temporary: String, final path: String, source: SourceHashes, proof: String?) async throws {
        if let kind = proof {
            let got = try await item(temporary, hash: kind)?.Hashes?[kind]?.lowercased()
            if let got, !got.isEmpty {
                guard got == source.hashes[kind] else {
                    throw ProviderError(.integrity, "site '\(siteName)': after upload rclone reports \(kind) \(got) for \(path); the source's is \(source.hashes[kind] ?? "")")
                }
                return
            }
            // A backend may lack a hash for some objects (an S3 multipart upload's MD5): read it back.
        }
        let back = try await readBack(temporary)
        guard back == source.digest else {
            throw ProviderError(.integrity, "site '\(siteName)': \(path) read back as \(back); the source is \(source.digest)")
        }
    }

    func holds(_ existing: Item, path: String, source: SourceHashes, proof: String?) async throws -> Bool {
        guard existing.Size == source.digest.size else { return false }
        if let kind = proof, let hash = existing.Hashes?[kind], !hash.isEmpty {
            return hash.lowercased() == source.hashes[kind]
        }
        return try await readBack(path) == source.digest
    }

    func readBack(_ path: String) async throws -> ContentDigest {
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("sitesync-readback-\(UUID().uuidString)").path
        defer { unlink(local) }
        return try await download(path, to: local, progress: { _ in })
    }

    func moveAside(_ path: String) async throws -> String {
        let base = LocalFiles.conflictName(for: path)
        for n in 1...20 {
            let candidate = n == 1 ? base : "\(base)-\(n)"
            if try await item(candidate) != nil { continue }
            try await move(path, to: candidate)
            logger.warning("site \(siteName): a different file was at \(path); kept as \(candidate)")
            return candidate
        }
        throw ProviderError(.transient, "site '\(siteName)': cannot find a free conflict name beside \(path)")
    }

    // MARK: Download

    /// rclone copies into `destination`; SiteSync hashes every byte it finds there afterwards.
    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        guard let i = try await item(path), !i.IsDir else {
            throw ProviderError(.notFound, "site '\(siteName)': \(path) is not there")
        }
        // An earlier attempt's bytes would make rclone compare instead of copy: start from nothing.
        unlink(destination)
        try await job("operations/copyfile", ["srcFs": .string(settings.rootFs), "srcRemote": .string(rel(path)),
                                               "dstFs": .string("/"), "dstRemote": .string(Self.local(destination))],
                      size: i.Size, progress: progress)
        let digest = try await BlockingIO.run { flag in try LocalFiles.digest(of: destination, flag: flag) }
        progress(digest.size)
        return digest
    }
}
