import CFileSystem
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Large local copies in three threads: this one reads, one writes, one hashes, so neither the SHA-256 of every
/// byte nor the wait for the disk adds to the time of the reads.
extension LocalFiles {
    /// Files at least this large are copied through the pipeline; smaller ones are done before it would fill.
    public static let pipelinedCopySize: Int64 = 16 << 20
    /// Bytes per chunk: a direct write of 8 MiB keeps two of the disk's 4 MiB requests in flight (one at a time
    /// left it idle between them: 4 MiB chunks copied 1 GiB in 1.3 s, the disk alone takes 0.55–0.8 s); two
    /// chunks keep the server's memory under 64 MiB.
    static let pipelineChunk = 8 << 20

    /// A chunk handed to the writing and hashing threads; the reading thread does not touch its buffer again until
    /// both are done with it.
    struct PendingChunk: @unchecked Sendable {
        var bytes: UnsafeRawBufferPointer
    }

    /// Touched only on its hashing queue.
    final class PipelineHasher: @unchecked Sendable {
        var hasher = SHA256()
    }

    /// The first failure of the writing thread, for the reading thread to throw.
    final class PipelineFailure: @unchecked Sendable {
        private let lock = NSLock()
        private var first: (any Error)?
        var error: (any Error)? { lock.withLock { first } }
        func record(_ error: any Error) { lock.withLock { if first == nil { first = error } } }
    }

    /// Copies `input` to `output` through two buffers: while chunk n is written and hashed (each on its own
    /// thread), this thread reads chunk n+1 into the other buffer. Writer and hasher read the same buffer, so the
    /// hash covers exactly the bytes written. Returns the bytes copied and their SHA-256.
    static func pipelinedCopy(input: Int32, output: Int32, source: String, destination: String, throttle: Throttle,
                              flag: CancellationFlag, progress: ProgressHandler) throws -> (size: Int64, sha256: String) {
        let hashing = PipelineHasher()
        let hashQueue = DispatchQueue(label: "sitesync.copy-hash")
        let writeQueue = DispatchQueue(label: "sitesync.copy-write")
        let writer = SequentialWriter(fd: output, path: destination)
        let failure = PipelineFailure()
        // Aligned for direct writes, which then go from these buffers to the disk without a copy.
        let buffers = (0..<2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: pipelineChunk, alignment: SequentialWriter.alignment) }
        // A buffer is free again when its write and its hash are done.
        let busy = [DispatchGroup(), DispatchGroup()]
        defer {
            // A write or a hash still running reads a buffer: wait for them before the buffers go.
            writeQueue.sync {}
            hashQueue.sync {}
            buffers.forEach { $0.deallocate() }
        }
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL)
        var reader = DirectReads(input)
        defer { reader.end() }
        var done: Int64 = 0
        var k = 0
        var more = true
        while more {
            try flag.check()
            busy[k].wait()
            if let error = failure.error { throw error }
            // Whole chunks (a read may return less), so the writes stay aligned for the disk.
            var filled = 0
            while filled < pipelineChunk {
                let n = read(input, buffers[k].baseAddress.map { $0 + filled }, pipelineChunk - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EINVAL && reader.direct { reader.end(); continue }
                    throw error("cannot read", source)
                }
                if n == 0 { more = false; break }
                filled += n
            }
            guard filled > 0 else { break }
            let chunk = PendingChunk(bytes: UnsafeRawBufferPointer(rebasing: buffers[k][0..<filled]))
            let group = busy[k]
            group.enter()
            hashQueue.async {
                hashing.hasher.update(bufferPointer: chunk.bytes)
                group.leave()
            }
            group.enter()
            writeQueue.async {
                if failure.error == nil {
                    do { try writer.append(chunk.bytes) } catch { failure.record(error) }
                }
                group.leave()
            }
            done += Int64(filled)
            progress(done)
            try sleepChecking(nanoseconds: throttle.delay(after: done), flag: flag)
            k ^= 1
        }
        writeQueue.sync {}
        if let error = failure.error { throw error }
        try writer.finish()
        let sha256 = hashQueue.sync { hex(hashing.hasher.finalize()) }
        return (done, sha256)
    }

    /// Reads of a file that is not in the page cache go straight from the disk to the copy's buffers: on this
    /// project's machines reading 1 GiB through the page cache cost 1.1 s of system time, directly 0.1 s. A file
    /// whose start is cached (just written, or read before) is read from memory as usual.
    struct DirectReads {
        let fd: Int32
        private(set) var direct = false
        var flags: Int32 = 0

        init(_ fd: Int32) {
            self.fd = fd
            var fs = statfs()
            let position = Int64(lseek(fd, 0, SEEK_CUR))
            guard SITESYNC_O_DIRECT != 0, position >= 0, position % Int64(SequentialWriter.alignment) == 0,
                  fstatfs(fd, &fs) == 0, LocalFiles.onLocalDisk(fileSystemType: Int64(fs.f_type)),
                  !Self.cached(fd, from: position) else { return }
            flags = fcntl(fd, F_GETFL)
            direct = flags >= 0 && fcntl(fd, F_SETFL, flags | SITESYNC_O_DIRECT) == 0
        }

        /// Back to reads through the page cache (the descriptor is the caller's, and it is left as it came).
        mutating func end() {
            guard direct else { return }
            _ = fcntl(fd, F_SETFL, flags)
            direct = false
        }

        /// Whether most of the next chunk of the file is in the page cache (`mincore` of a mapping never touched).
        static func cached(_ fd: Int32, from position: Int64) -> Bool {
            let length = pipelineChunk
            guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(position)), map != MAP_FAILED else { return false }
            defer { munmap(map, length) }
            let pages = length / Int(getpagesize())
            var resident = [UInt8](repeating: 0, count: pages)
            guard mincore(map, length, &resident) == 0 else { return false }
            return resident.reduce(0) { $0 + Int($1 & 1) } * 2 > pages
        }
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
