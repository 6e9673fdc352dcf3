import CFileSystem
import Foundation
import SiteSyncModel
#if canImport(Glibc)
import Glibc
#endif

/// Small files written into local folders, made durable together. A small file's cost is not its bytes but what
/// surrounds them: a thread hop, a check of the root, a flush of its own that waits for the device, a rename that
/// waits for the folder's lock while other threads create files in the same folder. The files in flight are
/// therefore done in batches, one after another, like `cp` does (on two threads, each its half of the batch):
///
/// 1. each file's folder is made ready (its root checked once per batch) and opened, then the file is copied into
///    a new file with no name there (`O_TMPFILE`; a named temporary where the file system makes none), or, for a
///    download, is already in its temporary file;
/// 2. all of them are made durable at once: one `syncfs` per file system whose `syncfs` is known to flush
///    (ext4, XFS, btrfs), otherwise one `fsync` per file;
/// 3. each is verified against the catalog's hash and linked (or renamed) into place, never over a file there;
/// 4. the new names are made durable: one more `syncfs` where files were linked (their link counts too), and a
///    flush of each other folder that got a new name.
///
/// A crash between the steps leaves nothing (an unnamed file), temporaries or complete, unrecorded files; nothing
/// is reported written before its bytes and its name are durable. The batch that forms while one runs is the next
/// one (`GroupCommit`).
public enum LocalWriteBatch {
    /// Files up to this size join a batch; a larger one spends its time on its bytes and is a job of its own.
    public static let largestFile: Int64 = ProviderDescription.smallFileSize

    /// How a file's bytes get to its temporary name.
    public enum Fill: Sendable {
        /// Copied from a local file, hashed on the way.
        case copy(source: String, progress: ProgressHandler)
        /// Already written there (a download), with this digest.
        case written(ContentDigest)
    }

    struct Request: Sendable {
        var write: VerifiedLocalWrite
        var fill: Fill
        var flag: CancellationFlag
    }

    /// One queue of batches per root: a disk that hangs holds up only the files going to it. A batch is done in two
    /// stages, step 1 and then steps 2–4, and the next batch fills while the one before waits for its flushes
    /// (`GroupCommit(first:)`). Two whole batches of one root at once were measured no faster (5,000 × 4 KiB,
    /// three rounds each, 2026-12-07): they fought over the folder's lock for their creates and renames.
    static let queues = Queues()

    final class Queues: @unchecked Sendable {
        private let lock = NSLock()
        private var byRoot: [String: GroupCommit<Request, WriteReport>] = [:]

        func queue(for root: String) -> GroupCommit<Request, WriteReport> {
            lock.withLock {
                if let queue = byRoot[root] { return queue }
                let queue = GroupCommit<Request, WriteReport>(first: { requests in
                    do {
                        let filled = try await BlockingIO.run { _ in fill(requests) }
                        return {
                            do {
                                return try await BlockingIO.run { _ in filled.finish() }
                            } catch {
                                return requests.map { _ in .failure(error) }
                            }
                        }
                    } catch {
                        return { requests.map { _ in .failure(error) } }
                    }
                })
                byRoot[root] = queue
                return queue
            }
        }
    }

    /// Whether a small file under `root` joins a batch: only on a file system whose `syncfs` flushes. Elsewhere
    /// (NFS, FUSE) each file is flushed on a thread of its own, so the flushes overlap instead of queueing
    /// behind one thread. Looked up once per root.
    public static func takes(_ root: SiteRoot?) -> Bool {
        guard let root else { return false }
        return fileSystems.syncfsFlushes(root.path)
    }

    static let fileSystems = FileSystemKinds()

    /// Per root path: whether its file system's `syncfs` flushes.
    final class FileSystemKinds: @unchecked Sendable {
        private let lock = NSLock()
        private var known: [String: Bool] = [:]

        func syncfsFlushes(_ path: String) -> Bool {
            if let answer = lock.withLock({ known[path] }) { return answer }
            var fs = statfs()
            // Not known (the root is not there yet): no batch this time, and ask again next time.
            guard statfs(path, &fs) == 0 else { return false }
            let answer = LocalWriteBatch.syncfsFlushes(fileSystemType: Int64(fs.f_type))
            lock.withLock { known[path] = answer }
            return answer
        }
    }

    /// Puts one file in place with the others in flight. Errors are the file's own, as the write alone would
    /// have thrown them; cleaning up its temporary file is the caller's, as it is for a write alone.
    public static func submit(_ write: VerifiedLocalWrite, _ fill: Fill) async throws -> WriteReport {
        let flag = CancellationFlag()
        let queue = queues.queue(for: write.root?.path ?? "")
        return try await withTaskCancellationHandler {
            try await queue.submit(Request(write: write, fill: fill, flag: flag))
        } onCancel: {
            flag.cancel()
        }
    }

    /// Blocking: step 1 for every request (`Filled.finish` does the rest).
    static func fill(_ requests: [Request]) -> Filled {
        let batch = Filled(requests)
        // The sources are opened first and their reading started, so the disk reads them all at once instead of
        // one after another as the copying threads get to them.
        var sources = [Int32?](repeating: nil, count: requests.count)
        for (i, request) in requests.enumerated() {
            if case .copy(let source, _) = request.fill, let fd = try? LocalFiles.openForReading(source) {
                _ = posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED)
                sources[i] = fd
            }
        }
        // Copied by two threads, each its own half in order: on two cores the copying was the one busy thread
        // while the other core waited for it.
        let share = max(1, (requests.count + copyingThreads - 1) / copyingThreads)
        let parts = stride(from: 0, to: requests.count, by: share).map { FillPart(range: $0..<min($0 + share, requests.count)) }
        let sharedSources = sources
        DispatchQueue.concurrentPerform(iterations: parts.count) { p in
            parts[p].run(requests, sources: sharedSources)
        }
        for part in parts {
            for (i, result) in part.results { batch.results[i] = result }
            for (i, fd) in part.unnamed { batch.unnamed[i] = fd }
            batch.filled += part.filled
            batch.folders.adopt(part.folders)
        }
        return batch
    }

    /// Threads copying one batch's files. More than the cores would only wait for each other's folder locks.
    static let copyingThreads = min(2, max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// One thread's share of a batch's copies: requests `range`, in order.
    final class FillPart: @unchecked Sendable {
        let range: Range<Int>
        var results: [(Int, Result<WriteReport, any Error>)] = []
        var unnamed: [(Int, Int32)] = []
        var filled: [(index: Int, digest: ContentDigest, folder: String)] = []
        let folders = OpenFolders()

        init(range: Range<Int>) { self.range = range }

        /// Blocking: copies this part's files (`sources`: those opened ahead, closed here).
        func run(_ requests: [Request], sources: [Int32?]) {
            var ready: Set<String> = []
            for i in range {
                let request = requests[i]
                let write = request.write
                var input = sources[i]
                defer { if let input { close(input) } }
                do {
                    try request.flag.check()
                    let folder = LocalFiles.folder(of: write.finalPath)
                    switch request.fill {
                    case .copy(let source, let progress):
                        if let adopted = try write.prepare(flag: request.flag, ready: &ready) {
                            results.append((i, .success(adopted)))
                            continue
                        }
                        // Opened before the file is written: a write-back error reported to the folder's file system
                        // from now on reaches this batch's flush.
                        try folders.open(folder)
                        if input == nil { input = try? LocalFiles.openForReading(source) }
                        guard let input else {
                            guard LocalFiles.exists(source) else { throw ProviderError(.sourceMissing, "\(write.source) is not there to copy") }
                            throw LocalFiles.error("cannot read", source)
                        }
                        let digest: ContentDigest
                        if let output = try folders.openUnnamed(in: folder) {
                            unnamed.append((i, output))
                            digest = try LocalFiles.copy(input: input, source: source, output: output, destination: write.finalPath,
                                                         bytesPerSecond: nil, flag: request.flag, progress: progress)
                        } else {
                            digest = try LocalFiles.copy(input: input, source: source, to: write.temporary, bytesPerSecond: nil,
                                                         flag: request.flag, progress: progress, flush: false)
                        }
                        filled.append((i, digest, folder))
                    case .written(let digest):
                        try folders.open(folder)
                        filled.append((i, digest, folder))
                    }
                } catch {
                    results.append((i, .failure(error)))
                }
            }
        }
    }

    /// A batch after step 1: its files written, its folders open. Handed from the thread that filled it to the one
    /// that finishes it, never used by two at once.
    final class Filled: @unchecked Sendable {
        let requests: [Request]
        var results: [Result<WriteReport, any Error>?]
        let folders = OpenFolders()
        /// A copy goes into a file with no name where the folder's file system makes one: it costs the folder no
        /// entry to add and then remove (the create and the rename of a named temporary were a third of the batch
        /// thread's time), and a crash leaves nothing behind. Closed when the batch ends, linked or not.
        var unnamed: [Int32?]
        var filled: [(index: Int, digest: ContentDigest, folder: String)] = []

        init(_ requests: [Request]) {
            self.requests = requests
            results = Array(repeating: nil, count: requests.count)
            unnamed = Array(repeating: nil, count: requests.count)
        }

        deinit {
            for case let fd? in unnamed { close(fd) }
            folders.closeAll()
        }

        /// Blocking: steps 2–4; one result per request, in order.
        func finish() -> [Result<WriteReport, any Error>] {
            // 2. Make their bytes durable.
            let (unflushed, _) = LocalWriteBatch.flush(filled.map { item in
                (unnamed[item.index].map(FlushTarget.open) ?? .named(requests[item.index].write.temporary), item.folder)
            }, folders: folders)
            // 3. Verify and rename (or link) into place.
            var renamedInto: Set<String> = []
            var linked: [(index: Int, fd: Int32, folder: String)] = []
            for (n, item) in filled.enumerated() {
                let request = requests[item.index]
                do {
                    if let problem = unflushed[n] { throw problem }
                    let report = try request.write.commit(item.digest, flag: request.flag, syncFolder: false,
                                                          unnamed: unnamed[item.index])
                    if !report.adopted {
                        if let fd = unnamed[item.index] { linked.append((item.index, fd, item.folder)) } else { renamedInto.insert(item.folder) }
                    }
                    results[item.index] = .success(report)
                } catch {
                    results[item.index] = .failure(error)
                }
            }
            // 4. Make the new names durable. A linked file's link count must reach the disk with its folder's entry:
            //    one `syncfs` of its file system does both (and carries the renames into folders there); a file
            //    linked alone, or where `syncfs` does not flush, is flushed itself. Then each folder not covered by
            //    a `syncfs` is flushed once (best effort, as for a write alone: some file systems refuse it on a
            //    folder).
            let (linkProblems, synced) = LocalWriteBatch.flush(linked.map { (.open($0.fd), $0.folder) }, folders: folders)
            for (item, problem) in zip(linked, linkProblems) {
                if let problem { results[item.index] = .failure(problem) }
            }
            for folder in renamedInto.union(linked.map(\.folder)) {
                if let device = folders.flushesWithSyncfs(folder), synced.contains(device) { continue }
                folders.sync(folder)
            }
            return results.map { $0 ?? .failure(GroupCommitError.noAnswer) }
        }
    }

    /// A file a batch flushes: by its name, or by its open descriptor (a file with no name yet).
    enum FlushTarget {
        case named(String)
        case open(Int32)
    }

    /// Makes the files durable; the error of each file that could not be, by position, and the devices flushed
    /// whole (`syncfs`: their folders' entries are durable too).
    static func flush(_ files: [(file: FlushTarget, folder: String)], folders: OpenFolders) -> (problems: [ProviderError?], synced: Set<UInt64>) {
        var problems = [ProviderError?](repeating: nil, count: files.count)
        var syncedDevices: [UInt64: ProviderError?] = [:]
        for (n, file) in files.enumerated() {
            // One file alone: its own flush costs less than a whole file system's.
            if files.count > 1, let device = folders.flushesWithSyncfs(file.folder) {
                if syncedDevices[device] == nil {
                    syncedDevices[device] = folders.syncFileSystem(of: file.folder)
                }
                problems[n] = syncedDevices[device] ?? nil
                continue
            }
            do {
                switch file.file {
                case .named(let path): try LocalFiles.syncFile(path)
                case .open(let fd): if fsync(fd) != 0 { throw LocalFiles.error("cannot flush a new file in", file.folder) }
                }
            } catch let e as ProviderError { problems[n] = e } catch {}
        }
        return (problems, Set(syncedDevices.filter { $0.value == nil }.keys))
    }

    /// The folders a batch writes into, open for its flushes.
    final class OpenFolders {
        struct Folder {
            var fd: Int32
            var device: UInt64
            var syncfsFlushes: Bool
            /// Cleared at the first refusal of a file with no name.
            var makesUnnamed = true
        }

        var open: [String: Folder] = [:]

        func open(_ path: String) throws {
            guard open[path] == nil else { return }
            let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw LocalFiles.error("cannot open folder", path) }
            var st = stat()
            var fs = statfs()
            let known = fstat(fd, &st) == 0 && fstatfs(fd, &fs) == 0
            open[path] = Folder(fd: fd, device: UInt64(st.st_dev),
                                syncfsFlushes: known && LocalWriteBatch.syncfsFlushes(fileSystemType: Int64(fs.f_type)))
        }

        /// A new file with no name in the folder (open), or nil where its file system makes none.
        func openUnnamed(in path: String) throws -> Int32? {
            guard open[path]?.makesUnnamed ?? false else { return nil }
            if let fd = try LocalFiles.openUnnamed(in: path) { return fd }
            open[path]?.makesUnnamed = false
            return nil
        }

        /// The device of the folder's file system when one `syncfs` of it makes all its files durable.
        func flushesWithSyncfs(_ path: String) -> UInt64? {
            guard let folder = open[path], folder.syncfsFlushes else { return nil }
            return folder.device
        }

        func syncFileSystem(of path: String) -> ProviderError? {
            guard let folder = open[path] else { return ProviderError(.transient, "cannot flush \(path): not open") }
            return syncfs(folder.fd) == 0 ? nil : LocalFiles.error("cannot flush the file system of", path)
        }

        func sync(_ path: String) {
            if let folder = open[path] { _ = fsync(folder.fd) }
        }

        /// Takes over the folders `other` opened (closing those open here already); `other` is left empty.
        func adopt(_ other: OpenFolders) {
            for (path, folder) in other.open {
                if open[path] == nil { open[path] = folder } else { close(folder.fd) }
            }
            other.open = [:]
        }

        func closeAll() {
            for folder in open.values { close(folder.fd) }
            open = [:]
        }
    }

    /// File systems whose `syncfs` writes every dirty file and waits for the device: ext2/3/4, XFS, btrfs. On
    /// others (FUSE without its syncfs, some network file systems) it may return without flushing a thing, so
    /// their files are flushed one by one.
    static func syncfsFlushes(fileSystemType: Int64) -> Bool {
        LocalFiles.onLocalDisk(fileSystemType: fileSystemType)
    }
}
