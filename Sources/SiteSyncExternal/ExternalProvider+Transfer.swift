import Crypto
import Foundation
import SiteSyncModel
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// Uploads and downloads: the program moves the bytes, SiteSync proves them.
extension ExternalProvider {
    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        let caps = try await hello().capabilities
        let proof = try uploadProof(caps)
        // The program reads the file itself: SiteSync hashes it first (with the storage's kind of hash too), so a
        // damaged source is never sent and the storage's answer can be compared.
        let source = try await SourceHashes.of(localFile, also: caps.hash)
        guard source.digest == expected else {
            throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(source.digest), expected \(expected)")
        }
        let root = SiteRoot.containing(path, roots: settings.roots, site: siteName)
        if caps.folders { try await ensureFolders(for: path, root: root) }

        var inTheWay = false
        if let existing = try await entry(path) {
            if existing.isFolder {
                throw ProviderError(.configuration, "site '\(siteName)': a folder is at \(path), where a file belongs; move it away")
            }
            if try await holds(path, size: existing.size, source: source, caps: caps) {
                return WriteReport(digest: expected, adopted: true)
            }
            inTheWay = true
        }

        let temporary = LocalFiles.temporaryPath(for: path)
        do {
            let put = try await perform("put", what: "put \(path)", progress: progress) {
                $0.path = temporary
                $0.local = localFile
                $0.size = expected.size
                $0.sha256 = expected.sha256
                $0.bytesPerSecond = settings.bytesPerSecond
            }
            try await prove(temporary, final: path, proof: proof, reported: put?.hash, source: source, caps: caps)
        } catch {
            if !(error is CancellationError) && (error as? ProviderError)?.kind != .cancelled {
                _ = try? await send("delete", { $0.path = temporary })
            }
            throw error
        }
        var aside: String?
        if inTheWay { aside = try await moveAside(path) }
        switch try await send("move", { $0.from = temporary; $0.to = path }) {
        case .result: break
        case .error(let body) where body.kind == "exists":
            throw ProviderError(.transient, "site '\(siteName)': something was written to \(path) meanwhile; the next try looks again (the upload stays under \(temporary))")
        case .error(let body):
            throw body.providerError(site: siteName, op: "move \(temporary) to \(path)", redact: pool.redactor.redact)
        }
        progress(expected.size)
        return WriteReport(digest: expected, movedAside: aside)
    }

    /// Checks what was written under the temporary name, by the site's proof. A mismatch removes it.
    func prove(_ temporary: String, final path: String, proof: ExternalSettings.UploadVerification, reported: String?,
               source: SourceHashes, caps: ExternalCapabilities) async throws {
        switch proof {
        case .hash, .auto:
            guard let kind = caps.hash, let want = source.hashes[kind] else { return }
            var got = reported?.lowercased()
            if got == nil { got = try await storageHash(temporary, caps: caps)?.hash }
            guard let got else {
                throw ProviderError(.integrity, "site '\(siteName)': the provider declares \(kind) hashes but reported none for \(path); it must answer put or hash with {\"hash\": …}")
            }
            guard got == want else {
                throw ProviderError(.integrity, "site '\(siteName)': after upload the storage reports \(kind) \(got) for \(path); the source's is \(want)")
            }
        case .readback:
            let back = try await readBack(temporary)
            guard back == source.digest else {
                throw ProviderError(.integrity, "site '\(siteName)': \(path) read back as \(back); the source is \(source.digest)")
            }
        case .size:
            let size = try await entry(temporary)?.size
            guard size == source.digest.size else {
                throw ProviderError(.integrity, "site '\(siteName)': after upload the storage reports \(size.map { "\($0) bytes" } ?? "nothing") for \(path); the source has \(source.digest.size)")
            }
        }
    }

    /// Whether the file at `path` already holds the source's bytes: by the storage's hash, or read and hashed.
    func holds(_ path: String, size: Int64, source: SourceHashes, caps: ExternalCapabilities) async throws -> Bool {
        guard size == source.digest.size else { return false }
        if let kind = caps.hash, let (hash, _) = try await storageHash(path, caps: caps) {
            return hash == source.hashes[kind]
        }
        return try await readBack(path) == source.digest
    }

    /// Downloads a storage file to a scratch file, hashes it and removes it.
    func readBack(_ path: String) async throws -> ContentDigest {
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("sitesync-readback-\(UUID().uuidString)").path
        defer { unlink(local) }
        return try await download(path, to: local, progress: { _ in })
    }

    /// Moves the file in the way to a visible conflict name beside it (a counter when that is taken).
    func moveAside(_ path: String) async throws -> String {
        let base = LocalFiles.conflictName(for: path)
        for n in 1...20 {
            let candidate = n == 1 ? base : "\(base)-\(n)"
            switch try await send("move", { $0.from = path; $0.to = candidate }) {
            case .result:
                logger.warning("site \(siteName): a different file was at \(path); kept as \(candidate)")
                return candidate
            case .error(let body) where body.kind == "exists": continue
            case .error(let body): throw body.providerError(site: siteName, op: "move \(path) aside", redact: pool.redactor.redact)
            }
        }
        throw ProviderError(.transient, "site '\(siteName)': cannot find a free conflict name beside \(path)")
    }

    /// Creates the folders missing between the root and the file; the root itself must be there.
    func ensureFolders(for path: String, root: SiteRoot?) async throws {
        let folder = (path as NSString).deletingLastPathComponent
        if let root {
            guard let e = try await entry(root.path), e.isFolder else {
                throw ProviderError(.unavailable, "root '\(root.name)' of site '\(siteName)' is \(root.path), which does not exist on the storage; create it there (SiteSync never creates a site root) or fix the site's roots")
            }
        }
        // Walk up to the first folder that exists, then create downwards.
        var missing: [String] = []
        var current = folder
        while current != root?.path, current != "/", !current.isEmpty {
            if let e = try await entry(current) {
                guard e.isFolder else {
                    throw ProviderError(.configuration, "site '\(siteName)': \(current) is a file, where a folder belongs; move it away")
                }
                break
            }
            missing.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        for f in missing.reversed() {
            switch try await send("mkdir", { $0.path = f }) {
            case .result: break
            case .error(let body) where body.kind == "exists": break  // made meanwhile by another transfer
            case .error(let body): throw body.providerError(site: siteName, op: "mkdir \(f)", redact: pool.redactor.redact)
            }
        }
    }

    // MARK: Download

    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await fetch(path, to: destination, keep: false, progress: progress)
    }

    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await fetch(path, to: destination, keep: true, progress: progress)
    }

    /// The program writes into `destination` from an offset (SiteSync has cut the file to it); SiteSync then
    /// hashes the whole file, whatever the program says.
    func fetch(_ path: String, to destination: String, keep: Bool, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        let caps = try await hello().capabilities
        let kept = try await BlockingIO.run { _ -> Int64 in
            let have = keep && caps.resumableDownloads ? (LocalFiles.regularFileSize(destination) ?? 0) : 0
            let fd = open(destination, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ProviderError(.transient, "cannot write \(destination): \(LocalFiles.errnoMessage())") }
            defer { close(fd) }
            guard ftruncate(fd, off_t(have)) == 0 else { throw ProviderError(.transient, "cannot truncate \(destination): \(LocalFiles.errnoMessage())") }
            return have
        }
        _ = try await perform("get", what: "get \(path)", progress: progress) {
            $0.path = path
            $0.local = destination
            $0.offset = kept
            $0.bytesPerSecond = settings.bytesPerSecond
        }
        return try await BlockingIO.run { flag in try LocalFiles.digest(of: destination, flag: flag) }
    }
}
