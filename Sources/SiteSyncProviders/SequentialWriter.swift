import CFileSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file from start to end, and past its first 4 MiB straight to the disk (`O_DIRECT`) in aligned blocks of
/// 4 MiB, instead of through the page cache.
///
/// Why: every large file SiteSync writes is flushed before its rename, so the page cache only adds a copy. And on
/// this project's machines that copy was the largest cost of a large transfer: page-cache writes of 1 GiB took 2–6 s
/// of system time (new page-cache memory must first come back from the VM's host), direct writes of the same bytes
/// 0.15 s and 0.5–0.9 s in all, durable. A file system that refuses direct I/O (or a block it will not take) gets
/// the rest of the file through the page cache, as before; files up to 4 MiB never leave it, so small files keep
/// their batched flushes.
///
/// Only on file systems of a local disk (ext4, XFS, btrfs): over NFS or SMB a direct write waits for the server,
/// and FUSE file systems may not take it.
///
/// Durability is still the caller's: a direct write need not have left the disk's own cache, so the file is
/// flushed before its rename as every other.
///
/// Used by one thread at a time (the blocking-I/O job that writes the file).
public final class SequentialWriter: @unchecked Sendable {
    /// File offsets and memory of direct writes are aligned to this: the largest logical block size of a disk.
    static let alignment = 4096
    /// Bytes gathered for one direct write, and the bytes before the first one (below it, the page cache is fine).
    static let block = 4 << 20

    let fd: Int32
    let path: String
    /// Bytes in the file.
    public private(set) var offset: Int64
    /// Still trying direct writes: off for good after the first refusal (or where the flag is unknown).
    var direct: Bool
    /// Bytes written directly, for tests and figures.
    public private(set) var directBytes: Int64 = 0
    /// Whether the descriptor has `O_DIRECT` set now.
    var directSet = false
    /// Two buffers for whole blocks (allocated when first needed): one is filled while the other is written.
    var stages: [UnsafeMutableRawBufferPointer] = []
    /// The stage being filled, and its bytes.
    var current = 0
    var staged = 0
    /// The direct write of the other stage, running on `queue` while the caller goes on (a download keeps
    /// receiving instead of waiting for the disk).
    var inFlight: (done: DispatchGroup, outcome: Outcome, bytes: UnsafeRawBufferPointer)?
    var queue: DispatchQueue?

    /// What a direct write did: set on the writing thread, read after its group is done.
    final class Outcome: @unchecked Sendable {
        var written = 0
        var error: Int32 = 0
    }
    var writeback: LocalFiles.Writeback

    /// A writer of `fd` (open on `path`), which holds `offset` bytes, with its position at their end; `direct:
    /// false` keeps every byte in the page cache.
    public init(fd: Int32, path: String, offset: Int64 = 0, direct: Bool = true) {
        self.direct = direct && SITESYNC_O_DIRECT != 0
        self.fd = fd
        self.path = path
        self.offset = offset
        writeback = LocalFiles.Writeback(from: offset)
    }

    deinit {
        // A write still running reads a stage.
        inFlight?.done.wait()
        stages.forEach { $0.deallocate() }
    }

    /// Appends `bytes`: through the page cache, or gathered for a direct block, or written directly from `bytes`
    /// when they are aligned and a whole number of blocks.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var at = 0
        while at < bytes.count {
            let rest = UnsafeRawBufferPointer(start: base + at, count: bytes.count - at)
            if !direct || (staged == 0 && offset < Int64(Self.block)) {
                // Small files stay in the page cache (with a large file's first block).
                at += try buffered(direct ? UnsafeRawBufferPointer(rebasing: rest[0..<min(rest.count, Self.block - Int(offset))]) : rest)
            } else if staged == 0 && offset % Int64(Self.alignment) != 0 {
                // After bytes kept from an earlier attempt: through the page cache up to a block boundary.
                let boundary = Self.alignment - Int(offset % Int64(Self.alignment))
                at += try buffered(UnsafeRawBufferPointer(rebasing: rest[0..<min(rest.count, boundary)]))
            } else if staged == 0 && Int(bitPattern: rest.baseAddress) % Self.alignment == 0 && rest.count >= Self.block {
                // The caller's buffer is fit for the disk as it is: no copy.
                at += try writeDirect(UnsafeRawBufferPointer(rebasing: rest[0..<(rest.count / Self.alignment * Self.alignment)]))
            } else {
                let n = min(rest.count, Self.block - staged)
                UnsafeMutableRawBufferPointer(rebasing: stage()[staged..<(staged + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
                staged += n
                at += n
                if staged == Self.block { try writeStage() }
            }
        }
    }

    /// Writes what is gathered (through the page cache: less than a block). The file then holds every byte appended.
    public func finish() throws {
        try settle()
        if staged > 0, current < stages.count {
            let bytes = UnsafeRawBufferPointer(rebasing: stages[current][0..<staged])
            staged = 0
            try buffered(bytes)
        }
        stages.forEach { $0.deallocate() }
        stages = []
        current = 0
    }

    /// Forgets what is gathered: the file was emptied and its position set to its start.
    public func restart() {
        try? settle()
        staged = 0
        offset = 0
        writeback = LocalFiles.Writeback()
    }

    func stage() -> UnsafeMutableRawBufferPointer {
        while stages.count <= current {
            stages.append(UnsafeMutableRawBufferPointer.allocate(byteCount: Self.block, alignment: Self.alignment))
        }
        return stages[current]
    }

    /// Starts the direct write of the full stage on the writing thread and goes on with the other stage; a
    /// file system that refuses direct writes gets the stage through the page cache at once.
    func writeStage() throws {
        let bytes = UnsafeRawBufferPointer(rebasing: stages[current][0..<staged])
        staged = 0
        try settle()
        guard try prepareDirect() else {
            try buffered(bytes)
            return
        }
        let queue = self.queue ?? DispatchQueue(label: "sitesync.direct-write")
        self.queue = queue
        let done = DispatchGroup(), outcome = Outcome(), fd = self.fd
        let block = LocalFiles.PendingChunk(bytes: bytes)
        done.enter()
        queue.async {
            (outcome.written, outcome.error) = Self.writeDirect(fd, block.bytes)
            done.leave()
        }
        inFlight = (done, outcome, bytes)
        current ^= 1
    }

    /// Waits for the direct write in flight, and writes through the page cache what it did not take.
    func settle() throws {
        guard let (done, outcome, bytes) = inFlight else { return }
        inFlight = nil
        done.wait()
        offset += Int64(outcome.written)
        directBytes += Int64(outcome.written)
        if outcome.error == EINVAL { direct = false } else if outcome.error != 0 { throw LocalFiles.error("cannot write", path, outcome.error) }
        if outcome.written < bytes.count { try buffered(UnsafeRawBufferPointer(rebasing: bytes[outcome.written...])) }
    }

    /// Writes all of `bytes` through the page cache (`writeAll`: at most `LocalFiles.writeSlice` a call); returns
    /// their count.
    @discardableResult
    func buffered(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        try settle()
        if directSet { try setDirect(false) }
        try LocalFiles.writeAll(fd, bytes, path: path)
        offset += Int64(bytes.count)
        writeback.wrote(upTo: offset, fd: fd)
        return bytes.count
    }

    /// Writes aligned `bytes` of the caller directly, now; returns the bytes written, fewer than all when the
    /// file system refuses direct I/O (which turns it off for the rest of the file) or took an unaligned part.
    func writeDirect(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        try settle()
        guard try prepareDirect() else { return 0 }
        let (written, error) = Self.writeDirect(fd, bytes)
        offset += Int64(written)
        directBytes += Int64(written)
        if error == EINVAL { direct = false } else if error != 0 { throw LocalFiles.error("cannot write", path, error) }
        return written
    }

    /// Whether direct writes go on: the first asks the file system and sets the flag.
    func prepareDirect() throws -> Bool {
        guard direct else { return false }
        if !directSet {
            var fs = statfs()
            guard fstatfs(fd, &fs) == 0, LocalFiles.onLocalDisk(fileSystemType: Int64(fs.f_type)) else { direct = false; return false }
            do { try setDirect(true) } catch { direct = false; return false }
        }
        return true
    }

    /// Writes `bytes` to `fd` (set for direct I/O) until all are written, one is refused, or one takes an
    /// unaligned count (the rest must go through the page cache). EINVAL: this file system or device will not
    /// take these blocks directly; any other error (a full disk, an I/O error) is the write's failure.
    static func writeDirect(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, error: Int32) {
        guard let base = bytes.baseAddress else { return (0, 0) }
        var at = 0
        while at < bytes.count {
            let w = write(fd, base + at, bytes.count - at)
            if w < 0 {
                if errno == EINTR { continue }
                return (at, errno)
            }
            at += w
            if w % alignment != 0 { break }
        }
        return (at, 0)
    }

    func setDirect(_ on: Bool) throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, on ? flags | SITESYNC_O_DIRECT : flags & ~SITESYNC_O_DIRECT) == 0 else {
            throw LocalFiles.error("cannot write", path)
        }
        directSet = on
    }
}

extension LocalFiles {
    /// File systems on a local block device: ext2/3/4, XFS, btrfs. Their `syncfs` writes every dirty file and waits
    /// for the device, and they take direct I/O in blocks of 4 KiB.
    static func onLocalDisk(fileSystemType: Int64) -> Bool {
        [0xEF53, 0x5846_5342, 0x9123_683E].contains(fileSystemType)
    }
}
