import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local file used by a transfer that runs on Swift's cooperative pool (HTTP providers): every open, read,
/// write and flush runs on a blocking-I/O thread, so a slow disk never holds one of the pool's few threads.
/// Writes are gathered into 1 MiB blocks so the thread hop costs nothing next to the write.
public final class BlockingFile: @unchecked Sendable {
    public let path: String
    let fd: Int32
    // Only the task that owns the transfer touches these; the class is not shared between tasks.
    var pending = Data()
    var closed = false
    /// Bytes in the file (appended ones, from its start), for the write-back of large downloads.
    var written: Int64 = 0
    var writeback = LocalFiles.Writeback()

    init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit {
        if !closed { Glibc.close(fd) }
    }

    public static func openForReading(_ path: String) async throws -> BlockingFile {
        let fd = try await BlockingIO.run { _ in Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw ProviderError(.notFound, "cannot read \(path): \(LocalFiles.errnoMessage())") }
        return BlockingFile(path: path, fd: fd)
    }

    /// Opens `destination` for a download: continued after what it holds (when `continuing` and it holds less
    /// than `remoteSize`), else created or truncated. Returns the file, the bytes kept and the hash over them.
    public static func openForDownload(_ destination: String, remoteSize: Int64, continuing: Bool) async throws
        -> (file: BlockingFile, kept: Int64, hasher: SHA256) {
        let (fd, kept, hasher) = try await BlockingIO.run { _ -> (Int32, Int64, SHA256) in
            if continuing { return try PartialDownload.open(destination, remoteSize: remoteSize) }
            return (try LocalFiles.openForWriting(destination), 0, SHA256())
        }
        let file = BlockingFile(path: destination, fd: fd)
        file.written = kept
        file.writeback = LocalFiles.Writeback(from: kept)
        return (file, kept, hasher)
    }

    /// Creates (or truncates) `path` and writes `first` into it, in one blocking-I/O job.
    public static func create(_ path: String, with first: Data) async throws -> BlockingFile {
        let fd = try await BlockingIO.run { _ in
            let fd = try LocalFiles.openForWriting(path)
            do {
                try first.withUnsafeBytes { try LocalFiles.writeAll(fd, $0, path: path) }
            } catch {
                Glibc.close(fd)
                throw error
            }
            return fd
        }
        let file = BlockingFile(path: path, fd: fd)
        file.written = Int64(first.count)
        return file
    }

    /// Exactly `count` bytes at `offset`.
    public func read(at offset: Int64, count: Int) async throws -> Data {
        guard count > 0 else { return Data() }
        let fd = self.fd, path = self.path
        return try await BlockingIO.run { _ in
            var data = Data(count: count)
            let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard n == count else { throw ProviderError(.transient, "cannot read \(path): \(LocalFiles.errnoMessage())") }
            return data
        }
    }

    /// Appends bytes; they reach the file in 1 MiB blocks (all of them by `flush`).
    public func append<Bytes: Sequence>(contentsOf bytes: Bytes) async throws where Bytes.Element == UInt8 {
        pending.append(contentsOf: bytes)
        if pending.count >= LocalFiles.chunkSize { try await flush() }
    }

    /// Appends a block: a large one goes to the file as it is (no gathering copy), after what is pending.
    public func append(_ data: Data) async throws {
        guard data.count >= LocalFiles.chunkSize else {
            try await append(contentsOf: data)
            return
        }
        try await flush()
        try await write(data)
    }

    /// Writes what `append` gathered.
    public func flush() async throws {
        guard !pending.isEmpty else { return }
        let block = pending
        pending = Data()
        try await write(block)
    }

    /// Writes a block at the end of the file on a blocking-I/O thread; every 64 MiB are handed to the disk.
    func write(_ block: Data) async throws {
        let fd = self.fd, path = self.path
        let before = writeback
        written += Int64(block.count)
        let done = written
        writeback = try await BlockingIO.run { _ in
            try block.withUnsafeBytes { try LocalFiles.writeAll(fd, $0, path: path) }
            var after = before
            after.wrote(upTo: done, fd: fd)
            return after
        }
    }

    /// Empties the file (a server that ignored a Range request sends everything again).
    public func truncate() async throws {
        pending = Data()
        written = 0
        writeback = LocalFiles.Writeback()
        let fd = self.fd
        try await BlockingIO.run { _ in
            _ = ftruncate(fd, 0)
            _ = lseek(fd, 0, SEEK_SET)
        }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
