import CFileSystem
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Large local copies with reading and writing on one thread and hashing on another, so the SHA-256 of every byte
/// costs no time of its own on a machine with two cores.
extension LocalFiles {
    /// Files at least this large are copied through the pipeline; smaller ones are done before it would fill.
    public static let pipelinedCopySize: Int64 = 16 << 20
    static let pipelineChunk = 4 << 20

    /// A chunk handed to the hashing thread; the copying thread does not touch its buffer again until the
    /// chunk's semaphore says the hash is done.
    struct PendingChunk: @unchecked Sendable {
        var bytes: UnsafeRawBufferPointer
    }

    /// Touched only on its hashing queue.
    final class PipelineHasher: @unchecked Sendable {
        var hasher = SHA256()
    }

    /// Copies `input` to `output` through two buffers: while the hashing thread hashes chunk n, this thread writes
    /// it and reads chunk n+1 into the other buffer. Both read the same buffer, so the hash covers exactly the bytes
    /// written. Returns the bytes copied and their SHA-256.
    static func pipelinedCopy(input: Int32, output: Int32, source: String, destination: String, throttle: Throttle,
                              flag: CancellationFlag, progress: ProgressHandler) throws -> (size: Int64, sha256: String) {
        let hashing = PipelineHasher()
        let queue = DispatchQueue(label: "sitesync.copy-hash")
        // Aligned for direct writes, which then go from these buffers to the disk without a copy.
        let buffers = (0..<2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: pipelineChunk, alignment: SequentialWriter.alignment) }
        let hashed = [DispatchSemaphore(value: 1), DispatchSemaphore(value: 1)]
        defer {
            // A hash still running reads a buffer: wait for it before the buffers go.
            queue.sync {}
            buffers.forEach { $0.deallocate() }
        }
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL)
        var done: Int64 = 0
        let writer = SequentialWriter(fd: output, path: destination)
        var k = 0
        while true {
            try flag.check()
            hashed[k].wait()
            var n = read(input, buffers[k].baseAddress, pipelineChunk)
            while n < 0 && errno == EINTR { n = read(input, buffers[k].baseAddress, pipelineChunk) }
            if n <= 0 {
                hashed[k].signal()
                if n < 0 { throw error("cannot read", source) }
                break
            }
            let chunk = PendingChunk(bytes: UnsafeRawBufferPointer(rebasing: buffers[k][0..<n]))
            let signal = hashed[k]
            queue.async {
                hashing.hasher.update(bufferPointer: chunk.bytes)
                signal.signal()
            }
            try writer.append(chunk.bytes)
            done += Int64(n)
            progress(done)
            try sleepChecking(nanoseconds: throttle.delay(after: done), flag: flag)
            k ^= 1
        }
        try writer.finish()
        let sha256 = queue.sync { hex(hashing.hasher.finalize()) }
        return (done, sha256)
    }

    /// `SYNC_FILE_RANGE_WRITE` from <fcntl.h>, hidden with the call itself.
    static let SYNC_FILE_RANGE_WRITE: Int32 = 2

    /// Hands a large file's written bytes to the disk every 64 MiB without waiting, so the flush before its rename
    /// finds them done instead of writing the whole file then. Used by `SequentialWriter` for what it writes
    /// through the page cache.
    public struct Writeback: Sendable {
        static let every: Int64 = 64 << 20
        var handed: Int64

        /// For a file whose first `start` bytes were written before (an earlier attempt's, flushed with the rest).
        public init(from start: Int64 = 0) { handed = start }

        /// `done` bytes of `fd` are written (from its start).
        public mutating func wrote(upTo done: Int64, fd: Int32) {
            guard done - handed >= Self.every else { return }
            _ = sync_file_range(fd, Int(handed), Int(done - handed), UInt32(LocalFiles.SYNC_FILE_RANGE_WRITE))
            handed = done
        }
    }
}
