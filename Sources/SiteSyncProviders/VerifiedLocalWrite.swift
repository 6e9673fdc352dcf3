import Foundation
import SiteSyncModel
#if canImport(Glibc)
import Glibc
#endif

/// What a write found and did at the final path.
public struct WriteReport: Sendable, Equatable {
    /// The digest of the bytes now under the final name.
    public var digest: ContentDigest
    /// A file with exactly these bytes was already there: it was kept, nothing was copied.
    public var adopted: Bool
    /// A different file was there; it was moved to this name (never deleted).
    public var movedAside: String?
    /// The copy was made on the site from this identical file (rootless path): no byte came from the source.
    public var madeFrom: String?

    public init(digest: ContentDigest, adopted: Bool = false, movedAside: String? = nil, madeFrom: String? = nil) {
        self.digest = digest
        self.adopted = adopted
        self.movedAside = movedAside
        self.madeFrom = madeFrom
    }
}

/// The one way SiteSync writes a file into a local folder: into `.NAME.sitesync.part` beside it, hashed on the
/// way and flushed, compared with what the catalog expects, renamed into place, and the rename flushed too.
/// A crash, a kill or a mismatch never leaves a partial file under the final name. The site root must be there
/// (it is never created), and a file already at the final path is never overwritten: identical bytes are
/// adopted, anything else is moved aside to `NAME.sitesync-conflict-<UTC time>`.
///
/// Publish, the Local Drive provider and the engine's downloads all go through here.
public struct VerifiedLocalWrite: Sendable {
    public let finalPath: String
    public let temporary: String
    /// What the bytes must be; nil when they define the content (publish records what it wrote).
    public let expected: ContentDigest?
    /// Names the source in an integrity error (`studio:/mnt/…`).
    public let source: String
    /// The site root the file goes under: checked before every write, never created.
    public let root: SiteRoot?

    public init(to finalPath: String, expected: ContentDigest?, source: String, root: SiteRoot?) {
        self.finalPath = finalPath
        self.temporary = LocalFiles.temporaryPath(for: finalPath)
        self.expected = expected
        self.source = source
        self.root = root
    }

    /// Blocking: lets `body` fill the temporary file and return the digest of its whole content, verifies,
    /// places it. Call it on a blocking-I/O thread (`BlockingIO.run`).
    public func run(flag: CancellationFlag? = nil, _ body: (_ temporary: String) throws -> ContentDigest) throws -> WriteReport {
        do {
            if let adopted = try prepare(flag: flag) { return adopted }
            return try commit(try body(temporary), flag: flag)
        } catch {
            LocalFiles.remove(temporary)
            throw rootTrouble() ?? error
        }
    }

    /// For bodies that stream from the network. `keepInterrupted`: a transfer that broke off keeps its bytes
    /// for the next attempt to continue after (a provider with resumable downloads); anything else starts over.
    /// The body only writes the temporary file: making it durable is done here, for every provider alike.
    /// `body` is told whether the temporary file holds bytes of an earlier attempt to continue after (only when
    /// `keepInterrupted`): when it holds none, a download need not look.
    public func run(keepInterrupted: Bool, _ body: (_ temporary: String, _ kept: Bool) async throws -> ContentDigest) async throws -> WriteReport {
        do {
            let temporary = self.temporary
            let (adopted, kept) = try await BlockingIO.run { flag in
                (try prepare(flag: flag), keepInterrupted && (LocalFiles.regularFileSize(temporary) ?? 0) > 0)
            }
            if let adopted { return adopted }
            return try await place(try await body(temporary, kept))
        } catch {
            throw await failed(error, keepTemporary: keepInterrupted && Self.isInterruption(error))
        }
    }

    /// Copies a local file into place, as `run(flag:_:)` with `LocalFiles.copy` does. A small file joins the
    /// files in flight in one `LocalWriteBatch`; a large one (or one under a bandwidth limit) is a blocking-I/O job
    /// of its own, sharing only the folder's flush after the rename with the other files (see `place`).
    public func copy(from sourcePath: String, bytesPerSecond: Int64?, progress: @escaping ProgressHandler) async throws -> WriteReport {
        do {
            if bytesPerSecond == nil, let size = expected?.size, size <= LocalWriteBatch.largestFile, LocalWriteBatch.takes(root) {
                return try await LocalWriteBatch.submit(self, .copy(source: sourcePath, progress: progress))
            }
            let (report, renamed) = try await BlockingIO.run { flag -> (WriteReport, Bool) in
                if let adopted = try prepare(flag: flag) { return (adopted, false) }
                guard LocalFiles.exists(sourcePath) else { throw ProviderError(.sourceMissing, "\(source) is not there to copy") }
                let digest = try LocalFiles.copy(from: sourcePath, to: temporary, bytesPerSecond: bytesPerSecond, flag: flag,
                                                 progress: progress)
                return (try commit(digest, flag: flag, syncFolder: false), true)
            }
            if renamed { try await GroupFlush.shared.submit(LocalFiles.folder(of: finalPath)) }
            return report
        } catch {
            throw await failed(error, keepTemporary: false)
        }
    }

    /// Makes the temporary file's bytes durable, verifies them and renames the file into place (a small file in a
    /// `LocalWriteBatch`, a large one in a blocking-I/O job of its own), then makes the new name durable; only then is
    /// it reported written. The folder's flush is shared with
    /// the other files renamed into it meanwhile (`GroupFlush`): one flush of a folder carries all its new names.
    func place(_ digest: ContentDigest) async throws -> WriteReport {
        if digest.size <= LocalWriteBatch.largestFile, LocalWriteBatch.takes(root) {
            return try await LocalWriteBatch.submit(self, .written(digest))
        }
        let temporary = self.temporary
        let report = try await BlockingIO.run { flag in
            try LocalFiles.syncFile(temporary)
            return try commit(digest, flag: flag, syncFolder: false)
        }
        if !report.adopted { try await GroupFlush.shared.submit(LocalFiles.folder(of: finalPath)) }
        return report
    }

    /// After a failed write: the temporary file goes (unless kept for the next attempt to continue after), and
    /// the root gone (unmounted mid-transfer) is reported instead of what that did to the file.
    func failed(_ error: any Error, keepTemporary: Bool) async -> any Error {
        if !keepTemporary {
            let temporary = self.temporary
            _ = try? await BlockingIO.run { _ in LocalFiles.remove(temporary) }
        }
        return (try? await BlockingIO.run { _ in rootTrouble() }) ?? error
    }

    /// The folder exists below a root that is really there; a file already holding the expected bytes is adopted.
    func prepare(flag: CancellationFlag?) throws -> WriteReport? {
        var ready: Set<String> = []
        return try prepare(flag: flag, ready: &ready)
    }

    /// As `prepare(flag:)`; `ready` holds the roots checked and folders made by earlier writes of the same batch,
    /// a few milliseconds ago: they are not looked at again for every file.
    func prepare(flag: CancellationFlag?, ready: inout Set<String>) throws -> WriteReport? {
        let folder = LocalFiles.folder(of: finalPath)
        if let root {
            if !ready.contains(root.path) {
                try LocalRoots.shared.check(root)
                ready.insert(root.path)
            }
            if !ready.contains(folder) {
                try LocalFiles.createFolders(folder, below: root.path)
                ready.insert(folder)
            }
        } else if !ready.contains(folder) {
            try LocalFiles.createDirectories(folder)
            ready.insert(folder)
        }
        // Only a plain file is adopted: a symbolic link in its place is in the way, whatever it points at.
        if let expected, LocalFiles.regularFileSize(finalPath) == expected.size,
           try LocalFiles.digest(of: finalPath, flag: flag) == expected {
            return WriteReport(digest: expected, adopted: true)
        }
        return nil
    }

    /// Verifies the bytes written, moves a different file at the final name aside, renames the new one into
    /// place and flushes the folder so the new name is durable. `unnamed`: the bytes are in this file with no
    /// name (`LocalFiles.openUnnamed`), which is linked into place instead; the caller closes it.
    func commit(_ digest: ContentDigest, flag: CancellationFlag?, syncFolder: Bool = true, unnamed: Int32? = nil) throws -> WriteReport {
        // An attempt that was cancelled or abandoned (paused, stalled) never puts anything in place.
        try flag?.check()
        if let expected, digest != expected {
            // The bytes were hashed as they were read from the source: it is the source copy that is damaged.
            throw ProviderError(.sourceCorrupt, "\(source) does not match the catalog: got \(digest), expected \(expected)")
        }
        var movedAside: String?
        // Renamed only if nothing is at the final name, in one step; what is there is looked at, then moved aside.
        func placed() throws -> Bool {
            if let unnamed { return try LocalFiles.linkUnnamed(unnamed, to: finalPath) }
            return try LocalFiles.renameWithoutReplacing(temporary, to: finalPath)
        }
        while try !placed() {
            if movedAside != nil {
                throw ProviderError(.transient, "something else keeps writing \(finalPath) (a file appeared there again after the one in the way was moved aside); the copy is tried again later")
            }
            if expected == nil, LocalFiles.regularFileSize(finalPath) == digest.size,
               try LocalFiles.digest(of: finalPath, flag: flag) == digest {
                if unnamed == nil { LocalFiles.remove(temporary) }
                return WriteReport(digest: digest, adopted: true)
            }
            movedAside = try LocalFiles.moveAside(finalPath)
        }
        if syncFolder { LocalFiles.syncFolder(of: finalPath) }
        if let root { LocalRoots.shared.noteWritten(root) }
        return WriteReport(digest: digest, movedAside: movedAside)
    }

    /// After a failed write: the root gone (unmounted mid-transfer) is the site's state, not the file's fault.
    func rootTrouble() -> ProviderError? {
        guard let root else { return nil }
        do { try LocalRoots.shared.check(root) } catch let e as ProviderError where e.kind == .unavailable { return e } catch {}
        return nil
    }

    /// A transfer that broke off (network, site gone, cancelled) rather than one that went wrong.
    public static func isInterruption(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let kind = (error as? ProviderError)?.kind else { return false }
        return [.transient, .unavailable, .cancelled, .quota].contains(kind)
    }
}

extension LocalFiles {
    /// Anything at all under the name (a file, a folder, a dangling link).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// The name a file found in the way is moved to: `NAME.sitesync-conflict-20261125T101500Z`.
    public static func conflictName(for path: String, at date: Date = Date()) -> String {
        let stamp = date.formatted(Date.ISO8601FormatStyle(timeSeparator: .omitted).year().month().day().dateSeparator(.omitted)
            .time(includingFractionalSeconds: false).timeZone(separator: .omitted))
        return "\(path).sitesync-conflict-\(stamp)"
    }

    /// Moves what is at `path` to a visible conflict name beside it (a counter is added when that is taken).
    /// Returns the new name.
    public static func moveAside(_ path: String) throws -> String {
        let base = conflictName(for: path)
        var candidate = base
        var n = 1
        // Never onto an earlier conflict file, even one made a moment ago.
        while try !renameWithoutReplacing(path, to: candidate) {
            n += 1
            candidate = "\(base)-\(n)"
        }
        return candidate
    }
}
