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
        // With SHA-256 on the backend, what is stored is compared with the catalog's hash itself, and the source is
        // read again only when that fails (to say whose fault it is): one read less of every byte. Other hashes
        // need the source's own, taken before anything is sent.
        var source: SourceHashes?
        if fs.proof == "sha256" {
            guard let size = LocalFiles.regularFileSize(localFile) else {
                throw ProviderError(.sourceMissing, "\(localFile) is not there")
            }
            guard size == expected.size else {
                throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: \(size) bytes, expected \(expected.size)")
            }
        } else {
            let hashes = try await SourceHashes.of(localFile, also: fs.proof)
            guard hashes.digest == expected else {
                throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(hashes.digest), expected \(expected)")
            }
            source = hashes
        }
        let want = source?.hashes ?? ["sha256": expected.sha256]
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
            if try await holds(existing, path: path, want: want, expected: expected, proof: fs.proof) {
                return WriteReport(digest: expected, adopted: true)
            }
            inTheWay = true
        }
        let temporary = LocalFiles.temporaryPath(for: path)
        do {
            try await job("operations/copyfile", ["srcFs": .string("/"), "srcRemote": .string(Self.local(localFile)),
                                                   "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(temporary)),
                                                   "_config": Self.noCheck],
                          size: expected.size, progress: progress)
            // A cancelled transfer stops here even when rclone finished the copy: nothing goes under the final name.
            if Task.isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
            do {
                try await prove(temporary, final: path, want: want, expected: expected, proof: fs.proof)
                // Cancelled while the copy was proved: still nothing under the final name (rc calls run to their end).
                if Task.isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
            } catch let e as ProviderError where e.kind == .integrity && source == nil {
                // Bad bytes arrived: the source's own hash says whether they left that way.
                let read = try await SourceHashes.of(localFile, also: nil).digest
                if read != expected {
                    throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(read), expected \(expected)")
                }
                throw e
            }
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

    /// rclone's own check after a copy (both sides' MD5, read again) is left out: SiteSync proves every copy
    /// itself with a stronger hash, and a second proof would read every byte once more.
    static let noCheck = ConfigValue.map(["IgnoreChecksum": .bool(true)])

    func move(_ from: String, to: String) async throws {
        _ = try await rc("operations/movefile", ["srcFs": .string(settings.rootFs), "srcRemote": .string(rel(from)),
                                                 "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(to))])
    }

    /// The uploaded bytes, by the backend's strongest hash SiteSync can compute, or read back.
    func prove(_ temporary: String, final path: String, want: [String: String], expected: ContentDigest, proof: String?) async throws {
        if let kind = proof {
            let got = try await item(temporary, hash: kind)?.Hashes?[kind]?.lowercased()
            if let got, !got.isEmpty {
                guard got == want[kind] else {
                    throw ProviderError(.integrity, "site '\(siteName)': after upload rclone reports \(kind) \(got) for \(path); the source's is \(want[kind] ?? "")")
                }
                return
            }
            // A backend may lack a hash for some objects (an S3 multipart upload's MD5): read it back.
        }
        let back = try await readBack(temporary)
        guard back == expected else {
            throw ProviderError(.integrity, "site '\(siteName)': \(path) read back as \(back); the catalog has \(expected)")
        }
    }

    func holds(_ existing: Item, path: String, want: [String: String], expected: ContentDigest, proof: String?) async throws -> Bool {
        guard existing.Size == expected.size else { return false }
        if let kind = proof, let hash = existing.Hashes?[kind], !hash.isEmpty {
            return hash.lowercased() == want[kind]
        }
        return try await readBack(path) == expected
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
                                               "dstFs": .string("/"), "dstRemote": .string(Self.local(destination)),
                                               "_config": Self.noCheck],
                      size: i.Size, progress: progress)
        let digest = try await BlockingIO.run { flag in try LocalFiles.digest(of: destination, flag: flag) }
        progress(digest.size)
        return digest
    }
}
