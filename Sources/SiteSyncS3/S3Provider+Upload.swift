import Crypto
import Foundation
import NIOCore
import SiteSyncProviders
import Synchronization

/// Uploads: one `PutObject` up to `part_size`, a parallel multipart upload above it, both conditional and checked.
extension S3Provider {
    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        let key = S3Settings.key(of: path)
        let attempt = WriteAttempt()
        do {
            let report = try await WriteAttempt.$current.withValue(attempt) {
                try await write(localFile, key: key, path: path, expected: expected, progress: progress)
            }
            // Cancelled while S3 finished the write: the caller hears "cancelled", so nothing stays as if it were done.
            if Task.isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
            return report
        } catch {
            let cancelled = Task.isCancelled || error is CancellationError || (error as? ProviderError)?.kind == .cancelled
            guard cancelled, attempt.sent.withLock({ $0 }) else { throw error }
            // A PUT (or CompleteMultipartUpload) that reached S3 before the cancellation did leaves a whole object:
            // removed if it is the one this upload wrote (its SHA-256; before the write was sent nothing is touched).
            await Task.detached { [self] in
                if let now = try? await head(key), now.sha256 == expected.sha256 {
                    _ = try? await client.send("remove the cancelled upload \(client.describe(key))", .DELETE, key: key, accept: [404])
                }
            }.value
            throw error
        }
    }

    /// Whether this upload sent its final write (a PUT of the object, or the completion of its parts).
    final class WriteAttempt: Sendable {
        @TaskLocal static var current: WriteAttempt?
        let sent = Mutex(false)
        static func noteSent() { current?.sent.withLock { $0 = true } }
    }

    func write(_ localFile: String, key: String, path: String, expected: ContentDigest,
               progress: @escaping ProgressHandler) async throws -> WriteReport {
        let small = expected.size <= Int64(settings.partSize)
        // On a server that honours `If-None-Match` (proved by `check`), a small file is written at once and looked
        // at only if something is already there; elsewhere, and before a multipart upload, look first.
        if small && conditionalWrites.proven {
            let input = try await BlockingFile.openUploadSource(localFile)
            defer { input.close() }
            if let report = try await putObject(input, key: key, path: path, expected: expected, replacing: nil, progress: progress) {
                progress(expected.size)
                return report
            }
        }
        // Identical bytes already there are adopted; a different object stays until the new one is verified.
        var inTheWay: Head?
        if let existing = try await head(key) {
            if try await holds(existing, key: key, expected) { return WriteReport(digest: expected, adopted: true) }
            inTheWay = existing
        }
        let input = try await BlockingFile.openUploadSource(localFile)
        defer { input.close() }
        let report: WriteReport
        if small {
            guard let written = try await putObject(input, key: key, path: path, expected: expected, replacing: inTheWay, progress: progress) else {
                throw ProviderError(.transient, "upload \(path): another writer changed \(client.describe(key)) meanwhile; the next try looks again")
            }
            report = written
        } else {
            report = try await multipart(input, key: key, path: path, expected: expected, replacing: inTheWay, progress: progress)
            try await confirm(key, path: path, expected)
        }
        progress(expected.size)
        return report
    }

    /// Whether the object already holds exactly these bytes: by the SHA-256 known for it, or else read and hashed.
    func holds(_ h: Head, key: String, _ expected: ContentDigest) async throws -> Bool {
        guard h.size == expected.size else { return false }
        if let sha = h.sha256 { return sha == expected.sha256 }
        return try await hashObject(key, size: h.size, etag: h.etag) == expected
    }

    /// The headers every new object gets: its SHA-256 (what `HeadObject` and `verify` read back), its type, the
    /// storage class.
    func objectHeaders(_ expected: ContentDigest) -> [(String, String)] {
        var headers = [("Content-Type", "application/octet-stream"), ("x-amz-meta-sha256", expected.sha256)]
        if let storageClass = settings.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        return headers
    }

    /// The condition that makes the final write safe: nothing there yet, or still the object moved aside (none
    /// on a server that refuses conditions: there the look before the write is the only guard).
    func condition(replacing: Head?) -> [(String, String)] {
        guard conditionalWrites.send else { return [] }
        return [replacing.map { ("If-Match", $0.etag) } ?? ("If-None-Match", "*")]
    }

    /// Copies the object in the way to a conflict name beside it (server-side, only if it is still the one seen);
    /// the conditional write then replaces it. Returns the conflict path.
    func moveAside(_ existing: Head?, key: String, path: String) async throws -> String? {
        guard let existing else { return nil }
        let asidePath = LocalFiles.conflictName(for: path)
        let asideKey = S3Settings.key(of: asidePath)
        let source = "/" + SigV4.encode(settings.bucket) + "/" + SigV4.encode(key, keepSlash: true)
        _ = try await client.send("move \(client.describe(key)) aside", .PUT, key: asideKey,
                                  headers: [("x-amz-copy-source", source), ("x-amz-copy-source-if-match", existing.etag),
                                            ("x-amz-metadata-directive", "COPY")])
        // The engine reports the move (with the file's path and site) from the write's report: said once, not twice.
        logger.debug("site \(siteName): a different object was at \(client.describe(key)); kept as \(client.describe(asideKey))")
        return asidePath
    }

    // MARK: One request

    /// Writes a small file in one `PutObject`, conditional on what was seen (nothing, or `replacing`). Returns nil
    /// when the condition failed: something else is (now) at the key.
    func putObject(_ input: BlockingFile, key: String, path: String, expected: ContentDigest, replacing: Head?,
                   progress: @escaping ProgressHandler) async throws -> WriteReport? {
        try await smallUploads.withPermit {
            try await putObjectHoldingPermit(input, key: key, path: path, expected: expected, replacing: replacing, progress: progress)
        }
    }

    func putObjectHoldingPermit(_ input: BlockingFile, key: String, path: String, expected: ContentDigest, replacing: Head?,
                                progress: @escaping ProgressHandler) async throws -> WriteReport? {
        let data = try await input.read(at: 0, count: Int(expected.size))
        let sha = SHA256.hash(data: data)
        let local = ContentDigest(size: Int64(data.count), sha256: LocalFiles.hex(sha))
        guard local == expected else {
            throw ProviderError(.sourceCorrupt, "\(input.path) does not match the catalog: read \(local), expected \(expected)")
        }
        let aside = try await moveAside(replacing, key: key, path: path)
        let throttle = Throttle(settings.bytesPerSecond)
        let counter = sent
        let body = S3Payload(bytes: ByteBuffer(data: data), sha256: local.sha256) { n, slice in
            counter.add(Int64(slice))
            progress(Int64(n))
            let wait = throttle.delay(after: Int64(n))
            if wait > 0 { try await Task.sleep(nanoseconds: wait) }
        }
        let checksum = Data(sha).base64EncodedString()
        WriteAttempt.noteSent()
        let r = try await client.send("upload \(path)", .PUT, key: key,
                                      headers: objectHeaders(expected) + [("x-amz-checksum-sha256", checksum)] + condition(replacing: replacing),
                                      payload: body, accept: [412])
        if r.status == 412 { return nil }
        // S3 checked the whole object's SHA-256 against the one sent and says so: that is the proof. A server
        // that does not answer with it is asked with HeadObject.
        if r.header("x-amz-checksum-sha256") != checksum {
            try await confirm(key, path: path, expected)
        }
        return WriteReport(digest: expected, movedAside: aside)
    }

    /// After the write: S3 must report the size and SHA-256 the catalog has; a mismatch removes what was written.
    func confirm(_ key: String, path: String, _ expected: ContentDigest) async throws {
        let h = try await head(key)
        guard let h, h.size == expected.size, h.sha256 == expected.sha256 else {
            _ = try? await client.send("remove the bad upload \(client.describe(key))", .DELETE, key: key, accept: [404])
            throw ProviderError(.integrity, "after upload, S3 reports \(client.describe(key)) as \(h.map { "\($0.size) bytes, sha256 \($0.sha256 ?? "unknown")" } ?? "missing"); expected \(expected)")
        }
    }

    /// Reads an object and hashes it without keeping it (an object of unknown content in the way).
    func hashObject(_ key: String, size: Int64, etag: String) async throws -> ContentDigest {
        let r = try await client.send("read \(client.describe(key))", .GET, key: key, headers: [("If-Match", etag)], stream: true)
        var sha = SHA256()
        var n: Int64 = 0
        guard let response = r.streaming else { return ContentDigest(size: 0, sha256: LocalFiles.hex(sha.finalize())) }
        for try await buffer in response.body {
            buffer.withUnsafeReadableBytes { sha.update(bufferPointer: $0) }
            n += Int64(buffer.readableBytes)
            readBack.add(Int64(buffer.readableBytes))
        }
        return ContentDigest(size: n, sha256: LocalFiles.hex(sha.finalize()))
    }
}
