import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SiteSyncModel
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// Sites on Google Drive (REST v3) with a service account: My Drive or shared drives.
///
/// Uploads are resumable sessions in chunks. Drive shows nothing until a session's last byte arrives, so the
/// last chunk is sent only after the SHA-256 of everything read matches the catalog; Drive's `sha256Checksum`
/// (its `md5Checksum` where that is absent) is checked against it afterwards. The session URL is kept on disk, so
/// an upload cut by a crash or a dropped connection continues from the last byte Google acknowledged.
public final class GoogleDriveProvider: StorageProvider {
    public static let name = "gdrive"
    /// Drive handles about two new files a second per user; more streams mostly collect rate-limit answers.
    public static let defaultConcurrency = 3

    public let siteName: String
    let settings: DriveSettings
    let account: ServiceAccountKey
    let client: DriveClient
    let tree: DriveTree
    let logger: Logger

    public init(site: SiteConfig, platform: Platform, logger: Logger = Logger(label: "sitesync.gdrive")) throws {
        settings = try DriveSettings(site: site, platform: platform)
        siteName = site.name
        account = try ServiceAccountKey.load(settings.credentialsFile, site: site.name)
        self.logger = logger
        if account.worldReadable {
            logger.warning("site \(site.name): \(settings.credentialsFile) can be read by every user of this machine; restrict it (chmod 600)")
        }
        client = DriveClient(settings: settings,
                             tokens: TokenSource(key: account, tokenURL: settings.tokenURL ?? account.tokenURI),
                             limiter: RequestLimiter(perSecond: settings.requestsPerSecond))
        tree = DriveTree(client: client, logger: logger)
    }

    public static let description = ProviderDescription(
        schema: DriveSettings.schema,
        capabilities: [.resumableDownloads, .reportsContentHash],
        defaultConcurrency: defaultConcurrency,
        summary: "a folder on Google Drive (My Drive or a shared drive) through a service account",
        make: { site, platform in
            try GoogleDriveProvider(site: site, platform: platform)
        })

    public func check() async throws -> [String] {
        guard !settings.roots.isEmpty else {
            throw ProviderError(.configuration, "site '\(siteName)' has no roots; add e.g. `roots: {work: /My Drive/studio}`")
        }
        _ = try await client.tokens.current(site: siteName)
        var lines = ["authenticated as \(account.clientEmail)"]
        if account.worldReadable { lines.append("warning: \(settings.credentialsFile) is readable by every user; chmod 600 it") }
        for (name, root) in settings.roots.sorted(by: { $0.key < $1.key }) {
            let drive = String(root.split(separator: "/")[0])
            let driveID = try await tree.driveRoot(drive)
            let id: String
            do {
                id = try await tree.folder(root, create: false)
            } catch let e as ProviderError where e.kind == .notFound {
                throw ProviderError(.configuration,
                    "root '\(name)' of site '\(siteName)' is \(root), which the service account cannot see: create the folder and share it with \(account.clientEmail)")
            }
            lines.append("root \(name): \(root) (folder \(id) on \(drive == "My Drive" ? "the service account's My Drive" : "shared drive \(drive) (\(driveID))"))")
        }
        return lines
    }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        guard let file = try await tree.file(path) else { return nil }
        return RemoteFileInfo(size: file.size, modified: file.modified)
    }

    // MARK: Upload

    struct Session: Codable {
        var url: String
        var size: Int64
        var sha256: String
        /// The file this session writes a new revision of; nil for a new file.
        var replacing: String?
    }

    /// Removes a finished or dead session's file.
    static func forget(_ sessionPath: String) async {
        _ = try? await BlockingIO.run { _ in try? FileManager.default.removeItem(atPath: sessionPath) }
    }

    func sessionFile(for path: String) -> String {
        let key = SHA256.hash(data: Data("\(siteName)\n\(path)".utf8)).map { String(format: "%02x", $0) }.joined()
        return "\(settings.sessionDirectory)/\(key).json"
    }

    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        let folderPath = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let root = SiteRoot.containing(path, roots: settings.roots, site: siteName)?.path
        var parent = try await tree.folder(folderPath, create: true, root: root)
        let sessionPath = sessionFile(for: path)
        var inTheWay: DriveFile?

        // Resume a persisted session for the same content, else start one for a new file. A file already there
        // with these bytes is adopted; a different one is renamed to a conflict name, never overwritten.
        var session: Session? = try await BlockingIO.run { _ in
            FileManager.default.contents(atPath: sessionPath).flatMap { try? JSONDecoder().decode(Session.self, from: $0) }
        }
        if let s = session, s.size != expected.size || s.sha256 != expected.sha256 { session = nil }
        let resumed = session != nil
        var offset: Int64 = 0
        var finished: [String: Any]?
        if let s = session {
            switch try await status(of: s) {
            case .acknowledged(let n): offset = n
            case .complete(let metadata): finished = metadata
            case .gone: session = nil
            }
        }
        if session == nil {
            let s: Session
            do {
                if let existing = try await tree.children(named: name, in: parent, folders: false).first {
                    if existing.size == expected.size && existing.sha256 == expected.sha256 {
                        return WriteReport(digest: expected, adopted: true)
                    }
                    // Renamed aside only once the new file is verified: a failed upload leaves it as it was.
                    inTheWay = existing
                }
                s = try await startSession(name: name, parent: parent, replacing: nil, size: expected.size, sha256: expected.sha256)
            } catch let e as ProviderError where e.kind == .notFound {
                // A cached folder was deleted or moved by someone else: resolve the path again, once.
                await tree.forget(folderPath)
                parent = try await tree.folder(folderPath, create: true, root: root)
                s = try await startSession(name: name, parent: parent, replacing: nil, size: expected.size, sha256: expected.sha256)
            }
            let directory = settings.sessionDirectory
            try await BlockingIO.run { _ in
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try JSONEncoder().encode(s).write(to: URL(fileURLWithPath: sessionPath))
            }
            session = s
        }
        guard let session else { return WriteReport(digest: expected) }

        let input = try await BlockingFile.openUploadSource(localFile)
        defer { input.close() }
        // Every byte is hashed once, in order, also those Google already has (a resumed session).
        var sha = SHA256()
        var md5 = Insecure.MD5()
        var hashed: Int64 = 0
        func read(at position: Int64, count: Int) async throws -> Data {
            try await input.read(at: position, count: count)
        }
        func hash(_ data: Data, at position: Int64) {
            let end = position + Int64(data.count)
            guard end > hashed else { return }
            let fresh = data.suffix(Int(end - hashed))
            sha.update(data: fresh)
            md5.update(data: fresh)
            hashed = end
        }
        while hashed < offset {
            try Task.checkCancellation()
            let count = Int(min(Int64(settings.chunkSize), offset - hashed))
            hash(try await read(at: hashed, count: count), at: hashed)
        }
        let throttle = Throttle(settings.bytesPerSecond)
        let startOffset = offset
        while finished == nil {
            try Task.checkCancellation()
            let length = Int(min(Int64(settings.chunkSize), expected.size - offset))
            let chunk = try await read(at: offset, count: length)
            hash(chunk, at: offset)
            let end = offset + Int64(length)
            if end == expected.size {
                // The last chunk commits the file: send it only if what was read matches the catalog.
                let local = ContentDigest(size: hashed, sha256: LocalFiles.hex(sha.finalize()))
                guard local == expected else {
                    await Self.forget(sessionPath)
                    await cancel(session)
                    throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(local), expected \(expected)")
                }
            }
            let range = length == 0 ? "bytes */\(expected.size)" : "bytes \(offset)-\(end - 1)/\(expected.size)"
            let url = session.url
            let response = try await client.send("upload \(path)", accept: [404, 410], timeout: 300) {
                var r = HTTPClientRequest(url: url)
                r.method = .PUT
                r.headers.add(name: "Content-Range", value: range)
                r.headers.add(name: "Content-Length", value: String(chunk.count))
                r.body = .bytes(ByteBuffer(bytes: chunk))
                return r
            }
            switch response.status {
            case 200, 201:
                finished = response.json
            case 308:
                offset = Self.acknowledged(response.headers)
            default:
                await Self.forget(sessionPath)
                throw ProviderError(.transient, "upload \(path): the upload session expired; it starts again on the next try")
            }
            progress(offset)
            let wait = throttle.delay(after: offset - startOffset)
            if wait > 0 { try await Task.sleep(nanoseconds: wait) }
        }
        while hashed < expected.size {  // a session found complete on resume
            let count = Int(min(Int64(settings.chunkSize), expected.size - hashed))
            hash(try await read(at: hashed, count: count), at: hashed)
        }
        await Self.forget(sessionPath)
        progress(expected.size)

        let metadata = finished ?? [:]
        guard let id = metadata["id"] as? String else { throw ProviderError(.transient, "upload \(path): no file id in Google's answer") }
        let remoteSize = Int64(metadata["size"] as? String ?? "") ?? -1
        let verified: Bool
        if let remote = metadata["sha256Checksum"] as? String {
            verified = remote.lowercased() == expected.sha256
        } else if let remote = metadata["md5Checksum"] as? String {
            verified = remote.lowercased() == LocalFiles.hex(md5.finalize())
        } else {
            verified = remoteSize == expected.size
        }
        guard verified, remoteSize < 0 || remoteSize == expected.size else {
            // A new file is removed again; a bad new revision stays until the retry writes a good one.
            if session.replacing == nil { try? await deleteFile(id) }
            throw ProviderError(.integrity, "Drive's checksum of \(path) (file \(id)) does not match what was sent")
        }
        // A file that was in the way (seen now, or before a resumed session began) goes aside, renamed.
        guard inTheWay != nil || resumed else { return WriteReport(digest: expected) }
        var aside: String?
        for other in try await tree.children(named: name, in: parent, folders: false) where other.id != id {
            aside = try await rename(other, aside: path)
        }
        return WriteReport(digest: expected, movedAside: aside)
    }

    /// Renames a file that was in the way (keeping its id, sharing and revisions); returns its new path.
    func rename(_ file: DriveFile, aside path: String) async throws -> String {
        let stamp = LocalFiles.conflictName(for: path)
        let taken = try await tree.children(named: (stamp as NSString).lastPathComponent, in: file.parents.first ?? "", folders: false)
        let aside = taken.isEmpty ? stamp : "\(stamp)-\(file.id.prefix(6))"
        let name = (aside as NSString).lastPathComponent
        _ = try await client.json("rename \(file.name) to \(name)", method: .PATCH, "/drive/v3/files/\(file.id)",
                                  [("supportsAllDrives", "true"), ("fields", "id")], body: ["name": name])
        // The engine reports the move (with the file's path and site) from the write's report: said once, not twice.
        logger.debug("site \(siteName): moved a different file that was in the way aside to \(name)")
        return aside
    }

    enum SessionStatus {
        case acknowledged(Int64)
        case complete([String: Any])
        case gone
    }

    /// Asks Google how much of a session it has (`Content-Range: bytes */size`).
    func status(of session: Session) async throws -> SessionStatus {
        let url = session.url
        let size = session.size
        let response = try await client.send("resume upload", accept: [404, 410]) {
            var r = HTTPClientRequest(url: url)
            r.method = .PUT
            r.headers.add(name: "Content-Range", value: "bytes */\(size)")
            r.headers.add(name: "Content-Length", value: "0")
            return r
        }
        switch response.status {
        case 200, 201: return .complete(response.json)
        case 308: return .acknowledged(Self.acknowledged(response.headers))
        default: return .gone
        }
    }

    /// From a 308's `Range: bytes=0-N`: the next byte to send (0 when absent).
    static func acknowledged(_ headers: HTTPHeaders) -> Int64 {
        guard let range = headers.first(name: "Range"), let dash = range.lastIndex(of: "-"),
              let last = Int64(range[range.index(after: dash)...]) else { return 0 }
        return last + 1
    }

    /// A resumable session: a new file in `parent`, or a new revision of `replacing`. Nothing is visible until
    /// the last byte arrives, so an interrupted upload never shows a partial file.
    func startSession(name: String, parent: String, replacing: String?, size: Int64, sha256: String) async throws -> Session {
        let query = [("uploadType", "resumable"), ("supportsAllDrives", "true"), ("fields", "id,name,size,sha256Checksum,md5Checksum")]
        let url = DriveClient.url(settings.uploadBaseURL + "/upload/drive/v3/files" + (replacing.map { "/\($0)" } ?? ""), query)
        let metadata: [String: Any] = replacing == nil ? ["name": name, "parents": [parent]] : [:]
        let body = try JSONSerialization.data(withJSONObject: metadata)
        let response = try await client.send("start upload of \(name)") {
            var r = HTTPClientRequest(url: url)
            r.method = replacing == nil ? .POST : .PATCH
            r.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
            r.headers.add(name: "X-Upload-Content-Type", value: "application/octet-stream")
            r.headers.add(name: "X-Upload-Content-Length", value: String(size))
            r.body = .bytes(ByteBuffer(bytes: body))
            return r
        }
        guard let location = response.headers.first(name: "Location") else {
            throw ProviderError(.transient, "start upload of \(name): Google sent no session URL")
        }
        return Session(url: location, size: size, sha256: sha256, replacing: replacing)
    }

    /// Abandons a session (Google's documented DELETE on the session URL); best effort.
    func cancel(_ session: Session) async {
        let url = session.url
        _ = try? await client.send("cancel upload", accept: [404, 410, 499]) {
            var r = HTTPClientRequest(url: url)
            r.method = .DELETE
            return r
        }
    }

    func deleteFile(_ id: String) async throws {
        _ = try await client.send("delete \(id)", accept: [404]) {
            var r = HTTPClientRequest(url: self.client.url("/drive/v3/files/\(id)", [("supportsAllDrives", "true")]))
            r.method = .DELETE
            return r
        }
    }

    public func storedDigest(_ path: String) async throws -> ContentDigest? {
        guard let file = try await tree.file(path), let sha = file.sha256 else { return nil }
        return ContentDigest(size: file.size, sha256: sha)
    }

    // MARK: Download

    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: false, progress: progress)
    }

    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: true, progress: progress)
    }

    func download(_ path: String, to destination: String, continuing: Bool, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        guard let file = try await tree.file(path) else {
            throw ProviderError(.notFound, "\(path) on site '\(siteName)': no such file")
        }
        let id = file.id
        let size = file.size
        // Continue after what an earlier attempt kept (with `Range`); the hash still covers every byte.
        let sink = try await DownloadSink.open(destination, remoteSize: size, continuing: continuing,
                                               bytesPerSecond: settings.bytesPerSecond, progress: progress)
        defer { sink.close() }
        return try await sink.keepingArrived {
            var drops = 0
            // A dropped connection continues with `Range` from the last byte written.
            while sink.done < size || (size == 0 && drops == 0) {
                try Task.checkCancellation()
                await client.limiter.acquire()
                var request = HTTPClientRequest(url: client.url("/drive/v3/files/\(id)", [("alt", "media"), ("supportsAllDrives", "true")]))
                request.headers.add(name: "Authorization", value: "Bearer \(try await client.tokens.current(site: siteName))")
                if sink.done > 0 { request.headers.add(name: "Range", value: "bytes=\(sink.done)-") }
                do {
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
                    let status = Int(response.status.code)
                    guard status == 200 || status == 206 else {
                        let body = try await response.body.collect(upTo: 1 << 20)
                        let failure = DriveClient.failure(status, Data(body.readableBytesView))
                        if status == 401 { await client.tokens.invalidate() }
                        if DriveClient.isRateLimit(failure) || status >= 500 || status == 401, drops < DriveClient.maxAttempts {
                            drops += 1
                            try await client.backoff(drops, retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
                            continue
                        }
                        throw ProviderError(status == 404 ? .notFound : (DriveClient.isRateLimit(failure) ? .quota : .transient),
                                            "download \(path): HTTP \(status) \(failure.reason) \(failure.message)")
                    }
                    if sink.done > 0 && status == 200 {
                        // The server ignored Range: start over.
                        try await sink.restart()
                    }
                    for try await buffer in response.body {
                        try await sink.write(Data(buffer.readableBytesView))
                    }
                    if size == 0 { break }
                    if sink.done < size { throw ProviderError(.transient, "connection closed early") }
                } catch let e as ProviderError where e.kind != .transient {
                    throw e
                } catch {
                    if Task.isCancelled { throw ProviderError(.cancelled, "cancelled") }
                    drops += 1
                    guard drops <= DriveClient.maxAttempts else {
                        throw ProviderError(.unavailable, "download \(path) from site '\(siteName)': \(error)")
                    }
                    try await client.backoff(drops, retryAfter: nil)
                }
            }
            return try await sink.finish()
        }
    }

    // MARK: Delete

    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        if let file = try await tree.file(path) {
            try await deleteFile(file.id)
        }
        guard let root else { return }
        var folder = (path as NSString).deletingLastPathComponent
        while folder.hasPrefix(root + "/") {
            guard let id = try? await tree.folder(folder, create: false) else { return }
            let any = try await client.get("list \(folder)", "/drive/v3/files", [
                ("q", "\(DriveTree.quote(id)) in parents and trashed = false"), ("pageSize", "1"), ("fields", "files(id)"),
                ("supportsAllDrives", "true"), ("includeItemsFromAllDrives", "true")])
            guard ((any["files"] as? [[String: Any]]) ?? []).isEmpty else { return }
            try await deleteFile(id)
            await tree.forget(folder)
            folder = (folder as NSString).deletingLastPathComponent
        }
    }
}

enum DriveTime {
    /// Drive's RFC 3339 times (`2026-11-25T10:00:00.000Z`). A formatter per call: they are not safe to share
    /// between threads on every platform, and this runs a few times per file.
    static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }
}
