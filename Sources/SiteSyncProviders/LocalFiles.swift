import CFileSystem
import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain POSIX file operations with errors that name the path and say what went wrong.
public enum LocalFiles {
    public static let chunkSize = 1 << 20

    public static func errnoMessage(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    static func error(_ what: String, _ path: String, _ code: Int32 = errno) -> ProviderError {
        let kind: ProviderError.Kind
        switch code {
        case ENOENT: kind = .notFound
        case EACCES, EPERM, EROFS: kind = .configuration
        default: kind = .transient
        }
        return ProviderError(kind, "\(what) \(path): \(errnoMessage(code))")
    }

    /// The temporary name a file is written under next to its final name. Stable per final name, so an
    /// interrupted transfer's leftover is reused instead of piling up.
    public static func temporaryPath(for finalPath: String) -> String {
        let (folder, name) = split(finalPath)
        return "\(folder)/.\(name).sitesync.part"
    }

    /// The folder and the name of a path to a file (string work only: a file URL would ask the disk whether the
    /// path is a folder, per file).
    public static func split(_ path: String) -> (folder: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let folder = trimmed[..<slash]
        return (folder.isEmpty ? "/" : String(folder), String(trimmed[trimmed.index(after: slash)...]))
    }

    /// The folder holding `path`.
    public static func folder(of path: String) -> String { split(path).folder }

    public static func isTemporary(_ name: String) -> Bool {
        name.hasPrefix(".") && name.hasSuffix(".sitesync.part")
    }

    public static func createDirectories(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ProviderError(.transient, "cannot create folder \(path): \(error.localizedDescription)")
        }
    }

    public static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    /// The size of the open file `fd` (nil if it cannot be read).
    public static func fileSize(fd: Int32) -> Int64? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// A read buffer for a file of `size` bytes: as large as the file and one byte more (read then finds the end
    /// at once), at most `chunkSize`. A 1 MiB buffer for a 4 KiB file is an mmap and a munmap per file, and with
    /// many threads each munmap makes every core flush its TLB.
    static func readBuffer(forSize size: Int64?) -> UnsafeMutableRawBufferPointer {
        let wanted = size.map { Int(min(Int64(chunkSize), max($0, 0) + 1)) } ?? chunkSize
        return .allocate(byteCount: max(wanted, 4096), alignment: 16)
    }

    /// The size of a plain file at `path` itself: nil for a folder, a symbolic link (not followed) or nothing.
    public static func regularFileSize(_ path: String) -> Int64? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func modified(_ path: String) -> Date? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    /// Runs `body` (which reads `path`) and checks that the file did not change meanwhile: same size, same
    /// modification and change times, same inode. A file still being written is refused, not published half.
    public static func whileUnchanged<T>(_ path: String, _ body: () throws -> T) throws -> T {
        func snapshot() throws -> stat {
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw ProviderError(errno == ENOENT ? .sourceMissing : .transient, "cannot read \(path): \(errnoMessage())")
            }
            return st
        }
        let before = try snapshot()
        let result = try body()
        let after = try snapshot()
        func same(_ a: timespec, _ b: timespec) -> Bool { a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec }
        guard before.st_size == after.st_size, before.st_ino == after.st_ino,
              same(before.st_mtim, after.st_mtim), same(before.st_ctim, after.st_ctim) else {
            throw ProviderError(.sourceCorrupt,
                "\(path) changed while it was read (\(before.st_size) → \(after.st_size) bytes): another program is still writing it")
        }
        if let digest = result as? ContentDigest, digest.size != Int64(before.st_size) {
            throw ProviderError(.sourceCorrupt, "\(path) changed while it was read (\(digest.size) of \(before.st_size) bytes read)")
        }
        if let report = result as? WriteReport, report.digest.size != Int64(before.st_size) {
            throw ProviderError(.sourceCorrupt, "\(path) changed while it was read (\(report.digest.size) of \(before.st_size) bytes read)")
        }
        return result
    }

    /// Renames `from` over `to` atomically (same folder, same file system).
    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw error("cannot rename into place", to) }
    }

    /// Renames `from` to `to` unless something is at `to`; false (and nothing changed) when something is. The kernel
    /// checks and renames in one step (`RENAME_NOREPLACE`), so a file another program puts there after SiteSync looked
    /// is never replaced. A file system that cannot (some network shares and FUSE file systems) gets a look first.
    public static func renameWithoutReplacing(_ from: String, to: String) throws -> Bool {
        if renameat2(AT_FDCWD, from, AT_FDCWD, to, UInt32(SITESYNC_RENAME_NOREPLACE)) == 0 { return true }
        switch errno {
        case EEXIST:
            return false
        case EINVAL, ENOSYS, EOPNOTSUPP:
            if exists(to) { return false }
            try Self.rename(from, to: to)
            return true
        default:
            throw error("cannot rename into place", to)
        }
    }

    /// Whether a file with no name (`openUnnamed`) can be linked into place: through `/proc/self/fd`, which a
    /// container or chroot without /proc lacks (linking by descriptor alone needs a capability SiteSync does not ask
    /// for), and until a link was refused for a reason of the machine's (`linkUnnamed`).
    static var unnamedFilesLink: Bool { unnamedFilesPossible && !unnamedLinkRefused.load(ordering: .relaxed) }
    static let unnamedFilesPossible = SITESYNC_O_TMPFILE_BIT != 0 && access("/proc/self/fd", X_OK) == 0
    static let unnamedLinkRefused = Atomic<Bool>(false)

    /// A new file with no name in `folder` (`O_TMPFILE`), to fill and then give its final name with `linkUnnamed`;
    /// nil when the folder's file system cannot make one (then a named temporary is used). Until it is linked it is
    /// nowhere to be seen, and a crash or a failure leaves nothing behind: closing it frees it.
    public static func openUnnamed(in folder: String) throws -> Int32? {
        guard unnamedFilesLink else { return nil }
        let fd = open(folder, Int32(SITESYNC_O_TMPFILE_BIT) | O_DIRECTORY | O_WRONLY | O_CLOEXEC, 0o644)
        if fd >= 0 { return fd }
        switch errno {
        case EOPNOTSUPP, EISDIR, EINVAL: return nil
        default: throw error("cannot write in", folder)
        }
    }

    /// Gives the unnamed file open on `fd` the name `path`, only if nothing is there: false when the name is taken
    /// (nothing changed then). A link refused by the machine rather than by the folder (a /proc that hides the
    /// descriptor, a security module, a file system that links no such file) turns files with no name off for the
    /// rest of the process: this copy fails as transient, and its next try, like every later copy, uses a named
    /// temporary.
    public static func linkUnnamed(_ fd: Int32, to path: String) throws -> Bool {
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return true }
        let code = errno
        if code == EEXIST { return false }
        if [EXDEV, ENOENT, EPERM, EACCES, EOPNOTSUPP, EINVAL].contains(code), isDirectory(folder(of: path)) {
            unnamedLinkRefused.store(true, ordering: .relaxed)
            throw ProviderError(.transient, "cannot link a new file into place at \(path) (\(errnoMessage(code))); named temporary files are used from now on and the copy is tried again")
        }
        throw error("cannot link into place", path, code)
    }

    public static func remove(_ path: String) {
        unlink(path)
    }

    /// Flushes a file's bytes to disk, whoever wrote them (this process or a provider's program): a rename must
    /// never show bytes a power cut can still take back.
    public static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw error("cannot flush", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("cannot flush", path) }
    }

    /// Flushes the folder holding `path`, so a rename into it survives a power cut. Best effort: some file
    /// systems (and network shares) refuse fsync on a folder, and the file's own bytes are already flushed.
    public static func syncFolder(of path: String) {
        syncFolder(folder(of: path))
    }

    /// Flushes a folder's entries; best effort, as `syncFolder(of:)`.
    public static func syncFolder(_ folder: String) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// Removes `start` and its parents while they are empty, stopping at `root` (never removed).
    public static func pruneEmptyFolders(from start: String, upTo root: String?) {
        guard let root else { return }
        let stop = URL(fileURLWithPath: root).standardizedFileURL.path
        var dir = URL(fileURLWithPath: start).standardizedFileURL
        while dir.path.hasPrefix(stop + "/") && dir.path != stop {
            guard rmdir(dir.path) == 0 else { return }  // not empty, or gone: stop
            dir.deleteLastPathComponent()
        }
    }

    /// Hashes a local file (SHA-256) in fixed-size chunks.
    public static func digest(of path: String, flag: CancellationFlag? = nil) throws -> ContentDigest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error("cannot read", path) }
        defer { close(fd) }
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = readBuffer(forSize: fileSize(fd: fd))
        defer { buffer.deallocate() }
        while true {
            try flag?.check()
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw error("cannot read", path) }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += Int64(n)
        }
        return ContentDigest(size: size, sha256: hex(hasher.finalize()))
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let chars = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(chars[Int(byte >> 4)])
            out.append(chars[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Copies `source` to `destination` (created or truncated), hashing on the way, then flushes it to disk.
    /// `bytesPerSecond` throttles; `progress` gets bytes done about every chunk. `flush: false`: the caller makes
    /// the file durable itself, together with others (`LocalWriteBatch`).
    public static func copy(from source: String, to destination: String, bytesPerSecond: Int64?,
                            flag: CancellationFlag, progress: ProgressHandler, flush: Bool = true) throws -> ContentDigest {
        let input = try openForReading(source)
        defer { close(input) }
        return try copy(input: input, source: source, to: destination, bytesPerSecond: bytesPerSecond, flag: flag,
                        progress: progress, flush: flush)
    }

    /// Opens a file to read; the error names it.
    public static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error("cannot read", path) }
        return fd
    }

    /// As `copy(from:to:…)`, from `input`, open on `source` (which names it in errors); `input` stays open.
    public static func copy(input: Int32, source: String, to destination: String, bytesPerSecond: Int64?,
                            flag: CancellationFlag, progress: ProgressHandler, flush: Bool = true) throws -> ContentDigest {
        let output = try openForWriting(destination)
        var closed = false
        defer { if !closed { close(output) } }
        let digest = try copy(input: input, source: source, output: output, destination: destination,
                              bytesPerSecond: bytesPerSecond, flag: flag, progress: progress)
        // The bytes must be on disk before the rename makes them visible under the final name.
        if flush {
            guard fsync(output) == 0 else { throw error("cannot flush", destination) }
        }
        closed = true
        guard close(output) == 0 else { throw error("cannot close", destination) }
        return digest
    }

    /// Copies from `input` (open on `source`) to `output` (open on `destination`; the two names only name them in
    /// errors), hashing on the way. Both stay open; nothing is flushed.
    public static func copy(input: Int32, source: String, output: Int32, destination: String, bytesPerSecond: Int64?,
                            flag: CancellationFlag, progress: ProgressHandler) throws -> ContentDigest {
        let throttle = Throttle(bytesPerSecond)
        let copied: (size: Int64, sha256: String)
        let size = fileSize(fd: input)
        if (size ?? 0) >= pipelinedCopySize {
            copied = try pipelinedCopy(input: input, output: output, source: source, destination: destination,
                                       throttle: throttle, flag: flag, progress: progress)
        } else {
            var hasher = SHA256()
            var done: Int64 = 0
            let buffer = readBuffer(forSize: size)
            defer { buffer.deallocate() }
            let writer = SequentialWriter(fd: output, path: destination)
            while true {
                try flag.check()
                let n = read(input, buffer.baseAddress, buffer.count)
                if n < 0 { if errno == EINTR { continue }; throw error("cannot read", source) }
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(bufferPointer: chunk)
                try writer.append(chunk)
                done += Int64(n)
                progress(done)
                try sleepChecking(nanoseconds: throttle.delay(after: done), flag: flag)
            }
            try writer.finish()
            copied = (done, hex(hasher.finalize()))
        }
        return ContentDigest(size: copied.size, sha256: copied.sha256)
    }

    /// Opens a temporary file to fill, never through a symbolic link someone put at its name (that link is moved
    /// aside, not followed: following it would write over a file anywhere on the machine).
    public static func openForWriting(_ path: String, append: Bool = false) throws -> Int32 {
        let flags = (append ? (O_WRONLY | O_APPEND) : (O_WRONLY | O_CREAT | O_TRUNC)) | O_CLOEXEC | O_NOFOLLOW
        var fd = open(path, flags, 0o644)
        if fd < 0 && errno == ELOOP {
            _ = try moveAside(path)
            fd = open(path, (O_WRONLY | O_CREAT | O_TRUNC) | O_CLOEXEC | O_NOFOLLOW, 0o644)
        }
        guard fd >= 0 else { throw error("cannot write", path) }
        return fd
    }

    /// Bytes handed to one `write(2)`. Measured on this project's 6.18 kernel (ext4, a VM whose free memory goes
    /// back to the host): writing 1 GiB in calls of 2 MiB or more cost 2–6 s of system time, in calls of 1 MiB or
    /// less 0.3 s — a large write makes the page cache take large folios, and their pages must first come back from
    /// the host. Copies, downloads and the pipelined copy all wrote 4–16 MiB at a time.
    static let writeSlice = 1 << 20

    /// Writes every byte (`write` may take fewer, or be interrupted), at most `writeSlice` per call.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let w = write(fd, base + written, min(bytes.count - written, writeSlice))
            if w < 0 { if errno == EINTR { continue }; throw error("cannot write", path) }
            written += w
        }
    }

    /// Sleeps in short steps so a cancelled transfer stops promptly.
    public static func sleepChecking(nanoseconds: UInt64, flag: CancellationFlag) throws {
        var left = nanoseconds
        while left > 0 {
            try flag.check()
            let step = min(left, 50_000_000)
            usleep(UInt32(step / 1000))
            left -= step
        }
    }
}
