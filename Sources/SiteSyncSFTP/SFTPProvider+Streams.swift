import CLibSSH
import Crypto
import Foundation
import SiteSyncModel
import SiteSyncProviders
#if canImport(Glibc)
import Glibc
#endif

/// Large uploads and downloads over several connections at once. libssh 0.10 waits for the answer to each write request, so
/// one connection moves one 252 KiB request per round trip: about 5 MB/s on a 50 ms link, whatever its bandwidth.
/// Several connections each write their share of the file's chunks at their offsets.
///
/// One thread reads the local file in order and hashes every chunk before handing that same buffer to a
/// connection, so the hash still covers exactly the bytes sent. The chunks go to `.NAME.streams.sitesync.part`,
/// never resumed (an interrupted streamed upload leaves holes a resume could not see), and the file is renamed
/// into place only when the hash matches the catalog and the server reports the full size.
///
/// Downloads: each connection reads the chunks it claims; one thread puts them in order, hashes and appends them,
/// so an interrupted download keeps a whole prefix to continue after, as on one connection.
extension SFTPProvider {
    /// Files at least this large are moved over several connections when the site allows more than one stream.
    public static let streamedSize: Int64 = 32 << 20
    /// Chunks read ahead of the connections, per connection.
    static let chunksPerStream = 4

    /// A rate the link's latency alone should not keep a large file under; beyond it the two ends' CPUs are the
    /// limit, and more connections only add processes competing for them.
    static let latencyBoundTarget = Double(1 << 30)

    /// How many connections one large file is spread over: enough that the round trip alone would allow
    /// `latencyBoundTarget` with `requestsInFlight` chunk requests answered per round trip on each, at least two
    /// (one per end's core, measured best on loopback), at most the site's `streams`.
    ///
    /// Measured 2026-12-07 on the 2-core machine, 1 GiB over loopback (round trip well under 1 ms), upload /
    /// download MiB/s: 2 connections 397 / 251, 4: 294 / 194, 8: 270 / 126; over a 50 ms link all 8 are needed
    /// for uploads (libssh waits for each write's answer: one 252 KiB chunk per round trip on a connection).
    static func streams(roundTrip: Double?, requestsInFlight: Int, atMost: Int) -> Int {
        guard atMost > 1 else { return 1 }
        // Not measured: the site's setting, as before the measurement existed.
        guard let roundTrip else { return atMost }
        let perConnection = Double(requestsInFlight * chunk) / max(roundTrip, 1e-6)
        let needed = (latencyBoundTarget / perConnection).rounded(.up)
        return Int(min(Double(atMost), max(2, needed)))
    }

    func streams(requestsInFlight: Int) async -> Int {
        Self.streams(roundTrip: await pool.roundTrip, requestsInFlight: requestsInFlight, atMost: settings.streams)
    }

    func streamedUpload(localFile: String, to path: String, expected: ContentDigest,
                        progress: @escaping ProgressHandler) async throws -> WriteReport {
        let (folder, name) = ((path as NSString).deletingLastPathComponent, (path as NSString).lastPathComponent)
        let temporary = folder + "/." + name + ".streams.sitesync.part"
        let prepared = try await withConnection { c, flag -> WriteReport? in
            if let adopted = try Self.prepareUpload(c, to: path, expected: expected, flag: flag) { return adopted }
            guard let sftp = c.sftp, let file = sftp_open(sftp, temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644) else {
                throw c.error("cannot write", temporary)
            }
            guard sftp_close(file) == SSH_OK else { throw c.error("cannot write", temporary) }
            return nil
        }
        if let prepared { return prepared }
        // Decided after that first request: a site's first connection (a server's first file) has measured the
        // round trip by now.
        let streams = await streams(requestsInFlight: 1)
        do {
            let feed = ChunkFeed(capacity: streams * Self.chunksPerStream)
            let sent = SentBytes(progress)
            let digest = try await withThrowingTaskGroup(of: ContentDigest?.self) { group in
                group.addTask {
                    do {
                        return try await BlockingIO.run { flag in try Self.readChunks(localFile, into: feed, flag: flag) }
                    } catch {
                        feed.fail(error)
                        throw error
                    }
                }
                for _ in 0..<streams {
                    group.addTask {
                        do {
                            try await self.withConnection { c, flag in try Self.writeChunks(c, from: feed, to: temporary, sent: sent, flag: flag) }
                            return nil
                        } catch {
                            feed.fail(error)
                            throw error
                        }
                    }
                }
                var digest: ContentDigest?
                for try await result in group { digest = result ?? digest }
                return digest
            }
            guard let digest, digest == expected else {
                throw ProviderError(.sourceCorrupt, "\(localFile) does not match the catalog: read \(digest.map { "\($0)" } ?? "nothing"), expected \(expected)")
            }
            return try await withConnection { c, flag in
                guard let written = try c.stat(temporary), written.size == expected.size else {
                    throw ProviderError(.integrity, "the server holds a different size for \(temporary) than was sent (\(expected.size) bytes)")
                }
                try flag.check()
                return WriteReport(digest: expected, movedAside: try c.place(temporary, at: path))
            }
        } catch {
            // Never resumed: whatever it holds goes.
            _ = try? await withConnection { c, _ in try c.unlink(temporary) }
            throw error
        }
    }

    /// Blocking: reads the file in order, hashes each chunk, hands it to the connections; the digest of all.
    static func readChunks(_ path: String, into feed: ChunkFeed, flag: CancellationFlag) throws -> ContentDigest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ProviderError(errno == ENOENT ? .sourceMissing : .transient, "cannot read \(path): \(LocalFiles.errnoMessage())")
        }
        defer { close(fd) }
        var hasher = SHA256()
        var offset: Int64 = 0
        while true {
            try flag.check()
            var data = Data(count: chunk)
            let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunk, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ProviderError(.transient, "cannot read \(path): \(LocalFiles.errnoMessage())")
            }
            if n == 0 { break }
            data.count = n
            hasher.update(data: data)
            try feed.put(Chunk(offset: offset, bytes: data), flag: flag)
            offset += Int64(n)
        }
        feed.finish()
        return ContentDigest(size: offset, sha256: LocalFiles.hex(hasher.finalize()))
    }

    /// Blocking: writes chunks from the feed at their offsets until it is empty and finished.
    static func writeChunks(_ c: SSHConnection, from feed: ChunkFeed, to temporary: String, sent: SentBytes, flag: CancellationFlag) throws {
        guard let sftp = c.sftp, let file = sftp_open(sftp, temporary, O_WRONLY, 0) else { throw c.error("cannot write", temporary) }
        var closed = false
        defer { if !closed { sftp_close(file) } }
        while let chunk = try feed.take(flag: flag) {
            guard sftp_seek64(file, UInt64(chunk.offset)) == 0 else { throw c.error("cannot seek in", temporary) }
            let w = chunk.bytes.withUnsafeBytes { sftp_write(file, $0.baseAddress, $0.count) }
            guard w == chunk.bytes.count else { throw c.error("cannot write", temporary) }
            sent.add(Int64(w))
        }
        closed = true
        guard sftp_close(file) == SSH_OK else { throw c.error("cannot finish writing", temporary) }
    }

    func streamedDownload(_ path: String, to destination: String, size: Int64, continuing: Bool, streams: Int,
                          progress: @escaping ProgressHandler) async throws -> ContentDigest {
        // Continue after what an earlier attempt kept; the hash still covers every byte.
        let (output, kept, prefixHash) = try await BlockingIO.run { _ in
            continuing ? try PartialDownload.open(destination, remoteSize: size)
                       : (try LocalFiles.openForWriting(destination), Int64(0), SHA256())
        }
        defer { close(output) }
        if kept > 0 { progress(kept) }
        let feed = RangeFeed(from: kept, size: size, capacity: streams * Self.chunksPerStream)
        return try await withThrowingTaskGroup(of: ContentDigest?.self) { group in
            group.addTask {
                do {
                    return try await BlockingIO.run { flag in
                        try Self.appendInOrder(from: feed, to: output, destination, hasher: prefixHash, kept: kept, flag: flag, progress: progress)
                    }
                } catch {
                    feed.fail(error)
                    throw error
                }
            }
            for _ in 0..<streams {
                group.addTask {
                    do {
                        try await self.withConnection { c, flag in try Self.readRanges(c, path, into: feed, flag: flag) }
                        return nil
                    } catch {
                        feed.fail(error)
                        throw error
                    }
                }
            }
            var digest: ContentDigest?
            for try await result in group { digest = result ?? digest }
            guard let digest else { throw ProviderError(.transient, "download \(path): nothing was written") }
            return digest
        }
    }

    /// Blocking: reads the chunks this connection claims, `chunksPerStream` requests in flight (one request per
    /// round trip would bound each connection by the link's latency), each answered in full.
    static func readRanges(_ c: SSHConnection, _ path: String, into feed: RangeFeed, flag: CancellationFlag) throws {
        guard let sftp = c.sftp, let file = sftp_open(sftp, path, O_RDONLY, 0) else { throw c.error("cannot read", path) }
        defer { sftp_close(file) }
        var pending: [(id: UInt32, offset: Int64, length: Int)] = []
        do {
            while true {
                while pending.count < chunksPerStream {
                    // Wait for a chunk to claim only when nothing is in flight: answers must be read meanwhile.
                    guard let (offset, length) = try (pending.isEmpty ? feed.claim(flag: flag) : feed.tryClaim()) else { break }
                    // Seeking only sets where the next request reads from; nothing is sent.
                    guard sftp_seek64(file, UInt64(offset)) == 0 else { throw c.error("cannot seek in", path) }
                    let id = sftp_async_read_begin(file, UInt32(length))
                    guard id >= 0 else { throw c.error("cannot read", path) }
                    pending.append((UInt32(id), offset, length))
                }
                // Nothing in flight and nothing left to claim: this connection's part is done.
                guard !pending.isEmpty else { return }
                let (id, offset, length) = pending.removeFirst()
                try flag.check()
                var data = Data(count: length)
                let n = data.withUnsafeMutableBytes { buffer in
                    buffer.baseAddress.map { sftp_async_read(file, $0, UInt32(length), id) } ?? -1
                }
                if n < 0 { throw c.error("cannot read", path) }
                // OpenSSH answers regular-file reads in full: less means the file ended early (it shrank).
                guard Int(n) == length else {
                    c.broken = true
                    throw ProviderError(.transient, "short read from \(path) on site '\(c.settings.site)' (\(n) of \(length) bytes): it changed while it was read")
                }
                feed.deliver(offset, data)
            }
        } catch {
            // Answers to requests still in flight would arrive on a session we can no longer follow.
            if !pending.isEmpty { c.broken = true }
            throw error
        }
    }

    /// Blocking: hashes and appends the chunks in order; the digest of the whole file (kept bytes included).
    static func appendInOrder(from feed: RangeFeed, to output: Int32, _ destination: String, hasher prefix: SHA256, kept: Int64,
                              flag: CancellationFlag, progress: ProgressHandler) throws -> ContentDigest {
        var hasher = prefix
        var done = kept
        let writer = SequentialWriter(fd: output, path: destination, offset: kept)
        do {
            while let data = try feed.next(flag: flag) {
                data.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                try data.withUnsafeBytes { try writer.append($0) }
                done += Int64(data.count)
                progress(done)
            }
        } catch {
            // What arrived is kept for the next attempt to continue after.
            try? writer.finish()
            throw error
        }
        try writer.finish()
        return ContentDigest(size: done, sha256: LocalFiles.hex(hasher.finalize()))
    }

    /// The lock and condition the threads of one streamed transfer share: the first failure on any side stops
    /// them all, and a cancelled transfer wakes whoever waits.
    final class TransferCondition: @unchecked Sendable {
        private let condition = NSCondition()
        /// Read and set with the lock held.
        private(set) var failure: (any Error)?

        func withLock<T>(_ body: () throws -> T) rethrows -> T {
            condition.lock()
            defer { condition.unlock() }
            return try body()
        }

        /// With the lock held: throws the failure, if any.
        func check() throws {
            if let failure { throw failure }
        }

        /// With the lock held: waits a little for a `broadcast` (the lock held again on return); a cancelled
        /// transfer becomes everyone's failure.
        func wait(_ flag: CancellationFlag) throws {
            _ = condition.wait(until: Date().addingTimeInterval(0.1))
            if flag.isCancelled {
                if failure == nil { failure = ProviderError(.cancelled, "transfer cancelled") }
                condition.broadcast()
            }
        }

        /// With the lock held.
        func broadcast() { condition.broadcast() }

        func fail(_ error: any Error) {
            withLock {
                if failure == nil { failure = error }
                condition.broadcast()
            }
        }
    }

    /// Chunks of a download between the connections that read them and the thread that appends them in order. A
    /// connection claims the next chunk only while fewer than `capacity` wait to be appended (memory stays bounded).
    final class RangeFeed: @unchecked Sendable {
        private let shared = TransferCondition()
        private var nextClaim: Int64
        private var nextAppend: Int64
        private let size: Int64
        private let capacity: Int
        private var arrived: [Int64: Data] = [:]

        init(from start: Int64, size: Int64, capacity: Int) {
            nextClaim = start
            nextAppend = start
            self.size = size
            self.capacity = capacity
        }

        /// The next chunk to read (offset, length); nil when every chunk is claimed.
        func claim(flag: CancellationFlag) throws -> (Int64, Int)? {
            try shared.withLock {
                while nextClaim < size && !mayClaim && shared.failure == nil {
                    try shared.wait(flag)
                }
                return try claimLocked()
            }
        }

        /// `claim` without waiting: nil when no chunk may be claimed now.
        func tryClaim() throws -> (Int64, Int)? {
            try shared.withLock { try claimLocked() }
        }

        /// Fewer than `capacity` chunks wait to be appended (lock held).
        private var mayClaim: Bool { nextClaim - nextAppend < Int64(capacity * SFTPProvider.chunk) }

        private func claimLocked() throws -> (Int64, Int)? {
            try shared.check()
            guard nextClaim < size && mayClaim else { return nil }
            let offset = nextClaim
            let length = Int(min(Int64(SFTPProvider.chunk), size - offset))
            nextClaim += Int64(length)
            return (offset, length)
        }

        func deliver(_ offset: Int64, _ data: Data) {
            shared.withLock {
                arrived[offset] = data
                shared.broadcast()
            }
        }

        /// The chunk that comes next in the file, once read; nil after the last one.
        func next(flag: CancellationFlag) throws -> Data? {
            try shared.withLock {
                guard nextAppend < size else { return nil }
                while arrived[nextAppend] == nil && shared.failure == nil {
                    try shared.wait(flag)
                }
                try shared.check()
                guard let data = arrived.removeValue(forKey: nextAppend) else { return nil }
                nextAppend += Int64(data.count)
                shared.broadcast()
                return data
            }
        }

        func fail(_ error: any Error) { shared.fail(error) }
    }

    struct Chunk: Sendable {
        var offset: Int64
        var bytes: Data
    }

    /// Chunks between the reading thread and the connections' threads: at most `capacity` wait; the first
    /// failure on either side stops both.
    final class ChunkFeed: @unchecked Sendable {
        private let shared = TransferCondition()
        private var chunks: [Chunk] = []
        private var finished = false
        private let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        func put(_ chunk: Chunk, flag: CancellationFlag) throws {
            try shared.withLock {
                while chunks.count >= capacity && shared.failure == nil {
                    try shared.wait(flag)
                }
                try shared.check()
                chunks.append(chunk)
                shared.broadcast()
            }
        }

        /// The next chunk; nil once the reader has finished and every chunk is taken.
        func take(flag: CancellationFlag) throws -> Chunk? {
            try shared.withLock {
                while chunks.isEmpty && !finished && shared.failure == nil {
                    try shared.wait(flag)
                }
                try shared.check()
                guard !chunks.isEmpty else { return nil }
                shared.broadcast()
                return chunks.removeFirst()
            }
        }

        func finish() {
            shared.withLock {
                finished = true
                shared.broadcast()
            }
        }

        func fail(_ error: any Error) { shared.fail(error) }
    }

    /// Bytes the connections have written, reported as the transfer's progress.
    final class SentBytes: @unchecked Sendable {
        private let lock = NSLock()
        private var total: Int64 = 0
        private let progress: ProgressHandler

        init(_ progress: @escaping ProgressHandler) { self.progress = progress }

        func add(_ n: Int64) {
            // Under the lock, so the transfer's progress never goes back.
            lock.withLock {
                total += n
                progress(total)
            }
        }
    }
}
