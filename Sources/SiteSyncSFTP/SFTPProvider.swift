import CLibSSH
import Crypto
import Foundation
import SiteSyncModel
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// Sites on an SFTP server, through libssh. Host keys are verified; connections are pooled per site.
///
/// Uploads go to `.NAME.sitesync.part` next to the target, hashed while they are read, and are renamed into
/// place only when the hash matches and the server reports the full size. An interrupted upload of a large
/// file resumes from where its temporary file ends. SSH's own MAC protects every byte in transit; the size check
/// catches a truncated write; a server-side content hash would need a shell (`sha256sum`), which vendor accounts
/// rarely have and which costs a process per file, so it is not used.
public final class SFTPProvider: StorageProvider {
    public static let name = "sftp"
    public static let defaultConcurrency = 4
    /// Larger files resume an interrupted upload; smaller ones just start again (one round trip saved).
    static let resumeThreshold: Int64 = 4 << 20
    /// Bytes per SFTP write or read request: OpenSSH accepts packets up to 256 KiB.
    static let chunk = 252 * 1024
    /// Read requests in flight during a download.
    static let readAhead = 16

    public let siteName: String
    let settings: SFTPSettings
    let pool: ConnectionPool

    /// A server that vanishes mid-write must be an error, not a SIGPIPE that ends the whole process.
    static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    public init(site: SiteConfig, platform: Platform) throws {
        Self.ignoreSIGPIPE
        settings = try SFTPSettings(site: site, platform: platform)
        siteName = site.name
        pool = ConnectionPool(settings: settings, keep: site.concurrency ?? Self.defaultConcurrency)
    }

    public static let description = ProviderDescription(
        schema: SFTPSettings.schema,
        capabilities: [.resumableDownloads],
        defaultConcurrency: defaultConcurrency,
        summary: "a folder on an SFTP server (OpenSSH and others), host key verified",
        make: { site, platform in try SFTPProvider(site: site, platform: platform) })

    /// Runs `body` on a pooled connection; a connection that failed in a way that leaves it unusable is dropped,
    /// and the next call opens a new one.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (SSHConnection, CancellationFlag) throws -> T) async throws -> T {
        let connection = try await pool.checkout()
        do {
            let result = try await connection.run(body)
            await pool.checkin(connection)
            return result
        } catch {
            if let e = error as? ProviderError, e.kind == .cancelled || e.kind == .unavailable { connection.broken = true }
            await pool.checkin(connection)
            throw error
        }
    }

    public func check() async throws -> [String] {
        let roots = settings.roots
        guard !roots.isEmpty else {
            throw ProviderError(.configuration, "site '\(siteName)' has no roots; add e.g. `roots: {work: /upload}`")
        }
        var lines = try await withConnection { c, _ in
            var lines = ["connected to \(c.settings.endpoint)", "host key \(c.fingerprint) (verified by \(c.verifiedBy))"]
            for (name, root) in roots.sorted(by: { $0.key < $1.key }) {
                guard let a = try c.stat(root), a.isDirectory else {
                    throw ProviderError(.configuration,
                        "root '\(name)' of site '\(c.settings.site)' is \(root), which does not exist on the server; create it or fix roots")
                }
                let probe = root + "/.sitesync-check-\(UUID().uuidString.prefix(8))"
                guard let sftp = c.sftp, let file = sftp_open(sftp, probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644) else {
                    throw ProviderError(.configuration,
                        "root '\(name)' of site '\(c.settings.site)' (\(root)) is not writable by \(c.settings.user)")
                }
                sftp_close(file)
                try c.unlink(probe)
                lines.append("root \(name): \(root) (exists, writable)")
            }
            return lines
        }
        if let roundTrip = await pool.roundTrip, settings.streams > 1 {
            let up = await streams(requestsInFlight: 1), down = await streams(requestsInFlight: Self.chunksPerStream)
            lines.append("round trip \(ByteCount.decimal(roundTrip * 1000, places: 1)) ms: files of \(ByteCount.format(Self.streamedSize)) or more go up over \(up) connection(s), down over \(down) (streams: \(settings.streams) at most)")
        }
        return lines
    }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        try await withConnection { c, _ in
            guard let a = try c.stat(path), !a.isDirectory else { return nil }
            return RemoteFileInfo(size: a.size, modified: a.modified)
        }
    }

    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        let limit = settings.bytesPerSecond
        // A bandwidth limit is kept by one stream (the pacing is per transfer).
        if expected.size >= Self.streamedSize && settings.streams > 1 && limit == nil {
            return try await streamedUpload(localFile: localFile, to: path, expected: expected, progress: progress)
        }
        return try await withConnection { c, flag in
            try Self.upload(c, localFile: localFile, to: path, expected: expected, limit: limit, flag: flag, progress: progress)
        }
    }

    static func upload(_ c: SSHConnection, localFile: String, to path: String, expected: ContentDigest, limit: Int64?,
                       flag: CancellationFlag, progress: ProgressHandler) throws -> WriteReport {
        guard let sftp = c.sftp else { throw ProviderError(.unavailable, "not connected") }
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".sitesync.part"
        let input = open(localFile, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw ProviderError(errno == ENOENT ? .sourceMissing : .transient, "cannot read \(localFile): \(LocalFiles.errnoMessage())")
        }
        defer { close(input) }
        // A small file is sent without looking for an identical one first: the look costs a round trip on every
        // file, the rare identical file is adopted after the rename finds it (`placeOrAdopt`).
        let lookFirst = expected.size >= sendRatherThanLook
        if let adopted = try prepareUpload(c, to: path, expected: expected, lookForExisting: lookFirst, flag: flag) { return adopted }

        // Resume: keep what an earlier attempt already wrote, if its tail still matches our bytes.
        var offset: Int64 = 0
        if expected.size >= resumeThreshold, let partial = try c.stat(temporary), !partial.isDirectory,
           partial.size > 0, partial.size <= expected.size,
           try tailMatches(c, remote: temporary, local: input, length: partial.size) {
            offset = partial.size
        }
        let flags = offset > 0 ? O_WRONLY : (O_WRONLY | O_CREAT | O_TRUNC)
        var opened = sftp_open(sftp, temporary, flags, 0o644)
        if opened == nil && sftp_get_error(sftp) == SSH_FX_NO_SUCH_FILE {
            // The folder this connection created or saw is gone (deleted, or the root unmounted on the server):
            // look again from the root, which fails clearly if the root itself is missing.
            c.knownFolders.removeAll()
            _ = try prepareUpload(c, to: path, expected: expected, lookForExisting: false, flag: flag)
            opened = sftp_open(sftp, temporary, flags, 0o644)
        }
        guard let file = opened else { throw c.error("cannot write", temporary) }
        var closed = false
        defer { if !closed { sftp_close(file) } }
        if offset > 0 {
            guard sftp_seek64(file, UInt64(offset)) == 0 else { throw c.error("cannot seek in", temporary) }
            progress(offset)  // what the server already has counts as done
        }

        var hasher = SHA256()
        var done: Int64 = 0
        let throttle = Throttle(limit)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        lseek(input, 0, SEEK_SET)
        while true {
            try flag.check()
            let n = read(input, buffer.baseAddress, chunk)
            if n < 0 { if errno == EINTR { continue }; throw ProviderError(.transient, "cannot read \(localFile): \(LocalFiles.errnoMessage())") }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: bytes)
            // Bytes below `offset` are already on the server; they are hashed, not sent.
            let skip = Int(max(0, min(Int64(n), offset - done)))
            if skip < n {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[skip...])
                let w = sftp_write(file, rest.baseAddress, rest.count)
                guard w == rest.count else { throw c.error("cannot write", temporary) }
            }
            done += Int64(n)
            progress(done)
            try LocalFiles.sleepChecking(nanoseconds: throttle.delay(after: done - offset), flag: flag)
        }
        closed = true
        guard sftp_close(file) == SSH_OK else { throw c.error("cannot finish writing", temporary) }

        let digest = ContentDigest(size: done, sha256: LocalFiles.hex(hasher.finalize()))
        guard digest == expected else {
            try? c.unlink(temporary)
            throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(digest), expected \(expected)")
        }
        guard let written = try c.stat(temporary), written.size == expected.size else {
            try? c.unlink(temporary)
            throw ProviderError(.integrity, "the server holds a different size for \(temporary) than was sent (\(expected.size) bytes)")
        }
        // Cancelled after the last byte went: nothing goes under the final name (the bytes stay for a resume).
        try flag.check()
        return try placeOrAdopt(c, temporary, at: path, expected: expected, flag: flag)
    }

    /// Files smaller than this are sent without first looking for an identical file at the target.
    static let sendRatherThanLook: Int64 = 256 * 1024

    /// Renames the verified temporary into place. A file found in the way is adopted when it holds exactly these
    /// bytes (the temporary is removed), and moved aside otherwise (`place`); it is never overwritten.
    static func placeOrAdopt(_ c: SSHConnection, _ temporary: String, at path: String, expected: ContentDigest,
                             flag: CancellationFlag) throws -> WriteReport {
        guard let sftp = c.sftp else { throw ProviderError(.unavailable, "not connected") }
        if sftp_rename(sftp, temporary, path) == SSH_OK { return WriteReport(digest: expected) }
        if try holds(c, path, exactly: expected, flag: flag) {
            try c.unlink(temporary)
            return WriteReport(digest: expected, adopted: true)
        }
        return WriteReport(digest: expected, movedAside: try c.place(temporary, at: path))
    }

    /// Before an upload: the site root must be there (only the folders below it are created). It is checked
    /// unless this connection already knows the target folder: then nothing is created, and a folder gone since
    /// makes the upload look again (see `upload`). With `lookForExisting`, a file already at `path` with exactly
    /// these bytes is adopted: the report says so, nothing is sent.
    static func prepareUpload(_ c: SSHConnection, to path: String, expected: ContentDigest, lookForExisting: Bool = true,
                              flag: CancellationFlag) throws -> WriteReport? {
        let root = SiteRoot.containing(path, roots: c.settings.roots, site: c.settings.site)
        let folder = (path as NSString).deletingLastPathComponent
        if let root, !c.knownFolders.contains(folder) {
            guard try c.stat(root.path)?.isDirectory == true else {
                throw ProviderError(.unavailable, "root '\(root.name)' of site '\(root.site)' is \(root.path), which does not exist on \(c.settings.endpoint); create it there (SiteSync never creates a site root) or fix the site's roots")
            }
        }
        try c.createFolders(folder, below: root?.path)
        if lookForExisting, try holds(c, path, exactly: expected, flag: flag) {
            return WriteReport(digest: expected, adopted: true)
        }
        return nil
    }

    /// A plain file is at `path` on the server with exactly these bytes (size first, then its SHA-256 read back).
    static func holds(_ c: SSHConnection, _ path: String, exactly expected: ContentDigest, flag: CancellationFlag) throws -> Bool {
        guard let existing = try c.stat(path), !existing.isDirectory, existing.size == expected.size else { return false }
        return try remoteDigest(c, path, flag: flag) == expected
    }

    /// The SHA-256 of a file on the server, read through the connection (only to adopt a file already there).
    static func remoteDigest(_ c: SSHConnection, _ path: String, flag: CancellationFlag) throws -> ContentDigest {
        guard let sftp = c.sftp, let file = sftp_open(sftp, path, O_RDONLY, 0) else { throw c.error("cannot read", path) }
        defer { sftp_close(file) }
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            try flag.check()
            let n = sftp_read(file, buffer.baseAddress, chunk)
            if n < 0 { throw c.error("cannot read", path) }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += Int64(n)
        }
        return ContentDigest(size: size, sha256: LocalFiles.hex(hasher.finalize()))
    }

    /// Compares the last bytes (up to 256 KiB) of a partial upload with the local file.
    static func tailMatches(_ c: SSHConnection, remote: String, local: Int32, length: Int64) throws -> Bool {
        guard let sftp = c.sftp, let file = sftp_open(sftp, remote, O_RDONLY, 0) else { return false }
        defer { sftp_close(file) }
        let count = Int(min(length, 256 * 1024))
        let start = length - Int64(count)
        guard sftp_seek64(file, UInt64(start)) == 0 else { return false }
        var remoteBytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = remoteBytes.withUnsafeMutableBytes { sftp_read(file, $0.baseAddress! + got, count - got) }
            if n <= 0 { return false }
            got += n
        }
        var localBytes = [UInt8](repeating: 0, count: count)
        let n = localBytes.withUnsafeMutableBytes { pread(local, $0.baseAddress, count, off_t(start)) }
        return n == count && localBytes == remoteBytes
    }

    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: false, progress: progress)
    }

    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: true, progress: progress)
    }

    /// What a download on one connection did: all of it, or nothing yet because the file is large enough to be
    /// spread over several connections.
    enum DownloadStep: Sendable {
        case done(ContentDigest)
        case streamed(size: Int64)
    }

    func download(_ path: String, to destination: String, continuing: Bool, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        let limit = settings.bytesPerSecond
        // A bandwidth limit is kept by one stream (the pacing is per transfer).
        let streamFrom: Int64? = settings.streams > 1 && limit == nil ? Self.streamedSize : nil
        let step = try await withConnection { c, flag in
            try Self.download(c, path: path, to: destination, continuing: continuing, limit: limit, streamFrom: streamFrom,
                              flag: flag, progress: progress)
        }
        switch step {
        case .done(let digest):
            return digest
        case .streamed(let size):
            return try await streamedDownload(path, to: destination, size: size, continuing: continuing,
                                              streams: await streams(requestsInFlight: Self.chunksPerStream), progress: progress)
        }
    }

    /// `streamFrom`: a file at least this large is left to `streamedDownload` (nothing is read or written).
    static func download(_ c: SSHConnection, path: String, to destination: String, continuing: Bool, limit: Int64?,
                         streamFrom: Int64? = nil, flag: CancellationFlag, progress: ProgressHandler) throws -> DownloadStep {
        guard let sftp = c.sftp else { throw ProviderError(.unavailable, "not connected") }
        guard let attributes = try c.stat(path), !attributes.isDirectory else {
            throw ProviderError(.notFound, "\(path) on site '\(c.settings.site)': no such file")
        }
        let size = attributes.size
        if let streamFrom, size >= streamFrom { return .streamed(size: size) }
        guard let file = sftp_open(sftp, path, O_RDONLY, 0) else { throw c.error("cannot read", path) }
        defer { sftp_close(file) }
        // Continue after what an earlier attempt kept; the hash still covers every byte.
        let (output, kept, prefixHash) = continuing
            ? try PartialDownload.open(destination, remoteSize: size)
            : (try LocalFiles.openForWriting(destination), Int64(0), SHA256())
        var closedOutput = false
        defer { if !closedOutput { close(output) } }
        if kept > 0 {
            guard sftp_seek64(file, UInt64(kept)) == 0 else { throw c.error("cannot seek in", path) }
            progress(kept)
        }

        var hasher = prefixHash
        var done: Int64 = kept
        let writer = SequentialWriter(fd: output, path: destination, offset: kept)
        var requested: Int64 = kept
        var pending: [(id: UInt32, length: Int)] = []
        let throttle = Throttle(limit)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        // Keep several read requests in flight: one round trip per chunk would bound the rate by latency.
        func requestMore() throws {
            while pending.count < readAhead && requested < size {
                let length = Int(min(Int64(chunk), size - requested))
                let id = sftp_async_read_begin(file, UInt32(length))
                guard id >= 0 else { throw c.error("cannot read", path) }
                pending.append((UInt32(id), length))
                requested += Int64(length)
            }
        }
        do {
            try requestMore()
            while !pending.isEmpty {
                try flag.check()
                let (id, length) = pending.removeFirst()
                var got = 0
                let n = sftp_async_read(file, buffer.baseAddress, UInt32(length), id)
                if n < 0 { throw c.error("cannot read", path) }
                got = Int(n)
                // OpenSSH answers regular-file reads in full; a short read mid-file would shift every later chunk.
                guard got == length else {
                    c.broken = true
                    throw ProviderError(.transient, "short read from \(path) on site '\(c.settings.site)' (\(got) of \(length) bytes)")
                }
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
                hasher.update(bufferPointer: bytes)
                try writer.append(bytes)
                done += Int64(got)
                progress(done)
                try LocalFiles.sleepChecking(nanoseconds: throttle.delay(after: done - kept), flag: flag)
                try requestMore()
            }
            try writer.finish()
        } catch {
            // Answers to requests still in flight would arrive on a session we can no longer follow.
            if !pending.isEmpty { c.broken = true }
            // What arrived is kept for the next attempt to continue after.
            try? writer.finish()
            throw error
        }
        // The caller flushes the file before it renames it (with other small files' flushes where it can).
        closedOutput = true
        close(output)
        return .done(ContentDigest(size: done, sha256: LocalFiles.hex(hasher.finalize())))
    }

    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        try await withConnection { c, _ in
            try c.unlink(path)
            c.removeEmptyFolders(from: (path as NSString).deletingLastPathComponent, upTo: root)
        }
    }
}

/// Idle connections of one site, reused across files.
actor ConnectionPool {
    let settings: SFTPSettings
    let keep: Int
    var idle: [SSHConnection] = []

    init(settings: SFTPSettings, keep: Int) {
        self.settings = settings
        self.keep = keep
    }

    /// The shortest round trip measured on this site's connections: the link's latency, without the moments a
    /// busy server or machine added to some of them.
    private(set) var roundTrip: Double?
    /// Connections that measured it: the first few do (two requests each, a few round trips in all), the
    /// rest of a long-running server's connections need not.
    private var measured = 0

    func checkout() async throws -> SSHConnection {
        if let connection = idle.popLast() { return connection }
        let measure = measured < 4
        if measure { measured += 1 }
        let connection = try await SSHConnection.open(settings, measure: measure)
        if let time = connection.roundTrip { roundTrip = min(roundTrip ?? time, time) }
        return connection
    }

    func checkin(_ connection: SSHConnection) {
        guard !connection.broken, idle.count < keep else { return }
        idle.append(connection)
    }
}
