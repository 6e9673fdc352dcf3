import Crypto
import Foundation
import NIOCore
import SiteSyncProviders

/// Large files: a multipart upload with several parts in flight, each with its SHA-256; the upload id is kept on
/// disk so an upload cut by a crash continues with the parts S3 already has (`ListParts`).
extension S3Provider {
    /// What is kept on disk about a multipart upload in progress.
    struct Session: Codable, Equatable {
        var uploadID: String
        var key: String
        var size: Int64
        var sha256: String
        var partSize: Int
    }

    func sessionFile(for key: String) -> String {
        let name = LocalFiles.hex(SHA256.hash(data: Data("\(siteName)\n\(settings.endpoint)\n\(settings.bucket)\n\(key)".utf8)))
        return "\(settings.sessionDirectory)/\(name).json"
    }

    func loadSession(_ file: String) async -> Session? {
        try? await BlockingIO.run { _ in
            FileManager.default.contents(atPath: file).flatMap { try? JSONDecoder().decode(Session.self, from: $0) }
        }
    }

    func save(_ session: Session, to file: String) async throws {
        let directory = settings.sessionDirectory
        try await BlockingIO.run { _ in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try JSONEncoder().encode(session).write(to: URL(fileURLWithPath: file), options: .atomic)
        }
    }

    static func forget(_ file: String) async {
        _ = try? await BlockingIO.run { _ in try? FileManager.default.removeItem(atPath: file) }
    }

    /// Abandons an upload so its parts are not kept (and billed) forever; best effort.
    func abort(_ session: Session) async {
        _ = try? await client.send("abort the upload of \(client.describe(session.key))", .DELETE, key: session.key,
                                   query: [("uploadId", session.uploadID)], accept: [404])
    }

    /// The parts S3 has of an upload, by number; nil when the upload is gone (completed, aborted or expired).
    func parts(of session: Session) async throws -> [Int: S3XML.ListPartsResult.Part]? {
        var out: [Int: S3XML.ListPartsResult.Part] = [:]
        var marker: Int?
        while true {
            var query = [("uploadId", session.uploadID), ("max-parts", "1000")]
            if let marker { query.append(("part-number-marker", String(marker))) }
            let r = try await client.send("list the parts of \(client.describe(session.key))", .GET, key: session.key,
                                          query: query, accept: [404])
            guard r.status != 404 else { return nil }
            guard let list = S3XML.decode(S3XML.ListPartsResult.self, r.body) else {
                throw ProviderError(.transient, "list the parts of \(client.describe(session.key)): S3's answer could not be read")
            }
            for part in list.parts { out[part.number] = part }
            guard list.isTruncated == true, let next = list.nextMarker, next != marker else { return out }
            marker = next
        }
    }

    func multipart(_ input: BlockingFile, key: String, path: String, expected: ContentDigest, replacing: Head?,
                   progress: @escaping ProgressHandler) async throws -> WriteReport {
        // Parts grow for files so large that 10,000 parts of part_size would not hold them.
        let partSize = max(settings.partSize, Int((expected.size + Int64(Self.maxParts) - 1) / Int64(Self.maxParts)))
        let file = sessionFile(for: key)
        var session = await loadSession(file)
        if let s = session, s != Session(uploadID: s.uploadID, key: key, size: expected.size, sha256: expected.sha256, partSize: partSize) {
            await abort(s)  // another content or part size: its parts are no use
            session = nil
        }
        var have: [Int: S3XML.ListPartsResult.Part] = [:]
        if let s = session {
            if let parts = try await parts(of: s) {
                have = parts
                logger.info("site \(siteName): continuing the upload of \(client.describe(key)) with \(parts.count) part(s) S3 has")
            } else {
                session = nil
            }
        }
        if session == nil {
            let r = try await client.send("start the upload of \(path)", .POST, key: key, query: [("uploads", "")],
                                          headers: objectHeaders(expected) + [("x-amz-checksum-algorithm", "SHA256")])
            guard let started = S3XML.decode(S3XML.InitiateMultipartUploadResult.self, r.body) else {
                throw ProviderError(.transient, "start the upload of \(path): S3's answer could not be read")
            }
            session = Session(uploadID: started.uploadID, key: key, size: expected.size, sha256: expected.sha256, partSize: partSize)
        }
        guard let session else { throw ProviderError(.transient, "start the upload of \(path): no upload id") }
        do {
            try await save(session, to: file)
        } catch {
            // Without its id on disk the upload could never be continued: abandon it now rather than leave it billed.
            await abort(session)
            throw ProviderError(.configuration, "site '\(siteName)': cannot keep the multipart upload in \(settings.sessionDirectory) (\((error as NSError).localizedFailureReason ?? error.localizedDescription)); make sites.\(siteName).session_dir a folder this machine can write")
        }

        do {
            let parts = try await sendParts(input, session: session, have: have, path: path, expected: expected, progress: progress)
            let aside = try await moveAside(replacing, key: key, path: path)
            let body = try S3XML.CompleteMultipartUpload(parts: parts).xml()
            WriteAttempt.noteSent()
            let r = try await client.send("finish the upload of \(path)", .POST, key: key, query: [("uploadId", session.uploadID)],
                                          headers: condition(replacing: replacing) + [("Content-Type", "application/xml")],
                                          payload: S3Payload(bytes: ByteBuffer(data: body), sha256: LocalFiles.hex(SHA256.hash(data: body))),
                                          accept: [412])
            if r.status == 412 {
                // Someone else wrote the key meanwhile: the parts stay, and the next try decides again.
                throw ProviderError(.transient, "upload \(path): another writer changed \(client.describe(key)) meanwhile; the next try looks again")
            }
            await Self.forget(file)
            return WriteReport(digest: expected, movedAside: aside)
        } catch {
            // Kept to resume: an interruption (cancelled, network, S3 busy). Abandoned: anything a retry of the
            // same parts cannot fix.
            switch (error as? ProviderError)?.kind {
            case .sourceCorrupt?, .sourceMissing?, .integrity?, .configuration?, .notFound?:
                await abort(session)
                await Self.forget(file)
            default:
                logger.info("site \(siteName): the upload of \(client.describe(key)) stopped (\(error)); its parts are kept for the next try")
            }
            throw error
        }
    }

    static let maxParts = S3Settings.maximumParts

    /// Reads the file once, in order, hashing all of it; sends each part S3 does not have yet, several at once.
    /// Returns every part for CompleteMultipartUpload, once the whole file's SHA-256 matched the catalog.
    func sendParts(_ input: BlockingFile, session: Session, have: [Int: S3XML.ListPartsResult.Part], path: String,
                   expected: ContentDigest, progress: @escaping ProgressHandler) async throws -> [S3XML.CompleteMultipartUpload.Part] {
        let partSize = Int64(session.partSize)
        let count = Int((expected.size + partSize - 1) / partSize)
        let done = ByteCounter()
        let throttle = Throttle(settings.bytesPerSecond)
        let counter = sent
        var whole = SHA256()
        var finished: [Int: S3XML.CompleteMultipartUpload.Part] = [:]
        try await withThrowingTaskGroup(of: S3XML.CompleteMultipartUpload.Part.self) { group in
            var inFlight = 0
            for number in 1...count {
                try Task.checkCancellation()
                let offset = Int64(number - 1) * partSize
                let data = try await input.read(at: offset, count: Int(min(partSize, expected.size - offset)))
                whole.update(data: data)
                if let kept = have[number], kept.size == Int64(data.count) {
                    let sha = Data(SHA256.hash(data: data)).base64EncodedString()
                    // S3 answers with the part's SHA-256 where it keeps one; else its ETag is the part's MD5.
                    let same = kept.checksumSHA256.map { $0 == sha }
                        ?? (kept.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == LocalFiles.hex(Insecure.MD5.hash(data: data)))
                    if same {
                        finished[number] = .init(number: number, etag: kept.etag, checksumSHA256: sha)
                        progress(done.add(Int64(data.count)))
                        continue
                    }
                }
                if inFlight >= settings.partConcurrency, let part = try await group.next() {
                    finished[part.number] = part
                    inFlight -= 1
                }
                let key = session.key, uploadID = session.uploadID, client = self.client
                group.addTask {
                    // The part's own hash is computed here, beside the reader's hash of the whole file (two cores).
                    let sha = SHA256.hash(data: data)
                    let body = S3Payload(bytes: ByteBuffer(data: data), sha256: LocalFiles.hex(sha)) { _, slice in
                        counter.add(Int64(slice))
                        let total = done.add(Int64(slice))
                        progress(min(total, expected.size))  // a part sent again counts once
                        let wait = throttle.delay(after: total)
                        if wait > 0 { try await Task.sleep(nanoseconds: wait) }
                    }
                    let checksum = Data(sha).base64EncodedString()
                    let r = try await client.send("upload part \(number) of \(count) of \(path)", .PUT, key: key,
                                                  query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                                  headers: [("x-amz-checksum-sha256", checksum)], payload: body)
                    guard let etag = r.header("ETag") else {
                        throw ProviderError(.transient, "upload part \(number) of \(path): S3 sent no ETag")
                    }
                    return .init(number: number, etag: etag, checksumSHA256: checksum)
                }
                inFlight += 1
            }
            // Every byte was read: the parts are completed into an object only if they are the catalog's file.
            let local = ContentDigest(size: expected.size, sha256: LocalFiles.hex(whole.finalize()))
            guard local == expected else {
                group.cancelAll()
                throw ProviderError(.sourceCorrupt, "\(input.path) does not match the catalog: read \(local), expected \(expected)")
            }
            for try await part in group { finished[part.number] = part }
        }
        return (1...count).compactMap { finished[$0] }
    }
}
