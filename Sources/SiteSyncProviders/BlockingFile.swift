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
    /// Writes what is appended (large files past their first blocks straight to the disk); used by one blocking
    /// job at a time, since each write awaits the one before.
    let writer: SequentialWriter

    init(path: String, fd: Int32, size: Int64 = 0) {
        self.path = path
        self.fd = fd
        writer = SequentialWriter(fd: fd, path: path, offset: size)
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
        return (BlockingFile(path: destination, fd: fd, size: kept), kept, hasher)
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
        return BlockingFile(path: path, fd: fd, size: Int64(first.count))
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
        if pending.count >= LocalFiles.chunkSize { try await drain() }
    }

    /// Appends a block: a large one goes to the file as it is (no gathering copy), after what is pending.
    public func append(_ data: Data) async throws {
        guard data.count >= LocalFiles.chunkSize else {
            try await append(contentsOf: data)
            return
        }
        try await drain()
        try await write(data)
    }

    /// Writes every byte appended: the file then holds them all.
    public func flush() async throws {
        try await drain()
        let writer = self.writer
        try await BlockingIO.run { _ in try writer.finish() }
    }

    /// Hands what `append` gathered to the writer.
    func drain() async throws {
        guard !pending.isEmpty else { return }
        let block = pending
        pending = Data()
        try await write(block)
    }

    /// Writes a block at the end of the file on a blocking-I/O thread.
    func write(_ block: Data) async throws {
        let writer = self.writer
        try await BlockingIO.run { _ in try block.withUnsafeBytes { try writer.append($0) } }
    }

    /// Empties the file (a server that ignored a Range request sends everything again).
    public func truncate() async throws {
        pending = Data()
        writer.restart()
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
