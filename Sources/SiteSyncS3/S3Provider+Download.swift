import Foundation
import NIOCore
import NIOFoundationCompat
import SiteSyncProviders

/// Downloads: ranged GETs, several in flight for a large object, continuing after the bytes an interrupted attempt
/// kept; every range is asked of the same object version (`If-Match`), and every byte hashed in order.
extension S3Provider {
    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: false, progress: progress)
    }

    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, continuing: true, progress: progress)
    }

    /// Bytes per range GET: the part size, within what one answer is collected into memory for.
    var rangeSize: Int64 { Int64(min(settings.partSize, 64 << 20)) }

    func download(_ path: String, to destination: String, continuing: Bool, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        let key = S3Settings.key(of: path)
        let kept = continuing ? try await BlockingIO.run { _ in LocalFiles.regularFileSize(destination) ?? 0 } : 0
        // Nothing kept: the first range is asked for at once, and its answer says the object's size and version
        // (a small file is one request). Continuing after kept bytes starts from what HeadObject says.
        let object: (size: Int64, etag: String)
        let sink: DownloadSink
        if kept == 0 {
            let first = try await client.send("download \(path)", .GET, key: key, headers: [("Range", "bytes=0-\(rangeSize - 1)")],
                                              accept: [404, 416], stream: true)
            switch first.status {
            case 404:
                throw ProviderError(.notFound, "\(client.describe(key)) on site '\(siteName)': no such object")
            case 416:
                // No byte 0: an empty object.
                guard let h = try await head(key) else { throw ProviderError(.notFound, "\(client.describe(key)) on site '\(siteName)': no such object") }
                object = (h.size, h.etag)
                sink = try await DownloadSink.open(destination, remoteSize: h.size, continuing: false,
                                                   bytesPerSecond: settings.bytesPerSecond, progress: progress)
            default:
                let total = first.header("Content-Range").flatMap { Int64($0.split(separator: "/").last ?? "") }
                    ?? Int64(first.header("Content-Length") ?? "") ?? 0
                object = (total, first.header("ETag") ?? "")
                sink = try await DownloadSink.open(destination, remoteSize: total, continuing: false,
                                                   bytesPerSecond: settings.bytesPerSecond, progress: progress)
                do {
                    if let body = first.streaming?.body {
                        for try await buffer in body { try await sink.write(Data(buffer.readableBytesView)) }
                    }
                } catch let e as ProviderError where e.kind == .cancelled {
                    throw e
                } catch {
                    // Broken off: the loops below continue after what arrived.
                    if Task.isCancelled || error is CancellationError { throw ProviderError(.cancelled, "cancelled") }
                }
            }
        } else {
            guard let h = try await head(key) else {
                throw ProviderError(.notFound, "\(client.describe(key)) on site '\(siteName)': no such object")
            }
            object = (h.size, h.etag)
            sink = try await DownloadSink.open(destination, remoteSize: h.size, continuing: true,
                                               bytesPerSecond: settings.bytesPerSecond, progress: progress)
        }
        defer { sink.close() }
        return try await sink.keepingArrived {
            if object.size - sink.done > rangeSize && settings.partConcurrency > 1 {
                try await parallelRanges(key: key, etag: object.etag, from: sink.done, size: object.size) { buffer in
                    try await sink.write(buffer.getData(at: buffer.readerIndex, length: buffer.readableBytes, byteTransferStrategy: .noCopy) ?? Data())
                }
            }
            // The rest in one stream; a connection that breaks off continues from the last byte written.
            var drops = 0
            while sink.done < object.size {
                do {
                    let r = try await client.send("download \(path)", .GET, key: key,
                                                  headers: [("If-Match", object.etag), ("Range", "bytes=\(sink.done)-")], accept: [412], stream: true)
                    try ensureUnchanged(r, key)
                    guard let response = r.streaming else { break }
                    for try await buffer in response.body {
                        try await sink.write(Data(buffer.readableBytesView))
                    }
                    if sink.done < object.size { throw ProviderError(.transient, "the answer ended early") }
                } catch let e as ProviderError where e.kind != .transient && e.kind != .unavailable {
                    throw e
                } catch {
                    if Task.isCancelled || error is CancellationError { throw ProviderError(.cancelled, "cancelled") }
                    drops += 1
                    guard drops < S3Client.maxAttempts else {
                        throw ProviderError(.unavailable, "download \(path) from site '\(siteName)': \(S3Client.reason(error))")
                    }
                    try await client.backoff(drops, retryAfter: nil)
                }
            }
            return try await sink.finish()
        }
    }

    /// A 412 means the object was replaced while it was read: what was read belongs to another version.
    func ensureUnchanged(_ r: S3Response, _ key: String) throws {
        if r.status == 412 {
            throw ProviderError(.transient, "\(client.describe(key)) was replaced while it was read; the next try reads the new one")
        }
    }

    /// Fetches `[from, size)` in ranges, up to `part_concurrency` at once, and hands them to `consume` in order
    /// (the hash needs order); at most that many ranges are held in memory.
    func parallelRanges(key: String, etag: String, from start: Int64, size: Int64,
                        consume: (ByteBuffer) async throws -> Void) async throws {
        let step = rangeSize
        let count = Int((size - start + step - 1) / step)
        try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
            var launched = 0
            var next = 0
            var arrived: [Int: ByteBuffer] = [:]
            func launch() {
                let index = launched
                let first = start + Int64(index) * step
                let last = min(size, first + step) - 1
                let client = self.client
                group.addTask {
                    let r = try await client.send("download \(client.describe(key)) bytes \(first)-\(last)", .GET, key: key,
                                                  headers: [("If-Match", etag), ("Range", "bytes=\(first)-\(last)")], accept: [412], stream: true)
                    try self.ensureUnchanged(r, key)
                    guard let response = r.streaming else { throw ProviderError(.transient, "no answer") }
                    let buffer = try await response.body.collect(upTo: Int(last - first + 1))
                    guard buffer.readableBytes == Int(last - first + 1) else {
                        throw ProviderError(.transient, "download \(client.describe(key)): range \(first)-\(last) arrived with \(buffer.readableBytes) bytes")
                    }
                    return (index, buffer)
                }
                launched += 1
            }
            while launched < count && launched < settings.partConcurrency { launch() }
            while next < count {
                guard let (index, buffer) = try await group.next() else { break }
                arrived[index] = buffer
                while let ready = arrived.removeValue(forKey: next) {
                    try await consume(ready)
                    next += 1
                    if launched < count && launched - next < settings.partConcurrency { launch() }
                }
            }
        }
    }
}
