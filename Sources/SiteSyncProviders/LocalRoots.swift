import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local-folder site's root, as a write needs it: where it is and whose it is.
public struct SiteRoot: Sendable, Equatable {
    public var path: String
    public var site: String
    public var name: String

    public init(path: String, site: String, name: String) {
        self.path = path
        self.site = site
        self.name = name
    }

    /// The root among a site's roots that holds `path` (the longest, when roots nest).
    public static func containing(_ path: String, roots: [String: String], site: String) -> SiteRoot? {
        roots.filter { path == $0.value || path.hasPrefix($0.value.hasSuffix("/") ? $0.value : $0.value + "/") }
            .max { $0.value.count < $1.value.count }
            .map { SiteRoot(path: $0.value, site: site, name: $0.key) }
    }
}

/// Guards the roots of local-folder sites. A transfer never creates a root, and never writes into one that was
/// replaced: an unmounted share leaves an empty mount point, another folder (device and inode) than the one the
/// server saw before. Identities are remembered for the life of the process.
public final class LocalRoots: @unchecked Sendable {
    public static let shared = LocalRoots()

    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    /// A root as one `stat` sees it: which folder, and when its own entries last changed.
    struct Stamp: Equatable {
        var identity: Identity
        var changed: Int, changedNanoseconds: Int, modified: Int, modifiedNanoseconds: Int
    }

    private let lock = NSLock()
    private var seen: [String: Identity] = [:]
    /// Per root, how it looked when it last passed the whole check. Unchanged (same folder, no entry added or
    /// removed in it since), it passes again without being listed: a download checks its root for every file.
    private var passed: [String: Stamp] = [:]
    /// Roots this process saw holding files: found empty later, they were unmounted or emptied behind our back.
    private var hadContent: Set<String> = []

    /// Throws `.unavailable` (no try counted, the site is re-checked later) when the root is missing, is not a
    /// folder, or was replaced by an empty folder. A replaced root with content is taken as a remount.
    public func check(_ root: SiteRoot) throws {
        var st = stat()
        guard stat(root.path, &st) == 0 else {
            throw ProviderError(.unavailable,
                "root '\(root.name)' of site '\(root.site)' is \(root.path), which does not exist (an unmounted share?); mount it, or create it for a new site (mkdir -p '\(root.path)'): SiteSync never creates a site root")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ProviderError(.unavailable, "root '\(root.name)' of site '\(root.site)' is \(root.path), which is not a folder")
        }
        let now = Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        // An unmounted share is another folder (device); emptying the root or making it again changes its times.
        let stamp = Stamp(identity: now, changed: st.st_ctim.tv_sec, changedNanoseconds: st.st_ctim.tv_nsec,
                          modified: st.st_mtim.tv_sec, modifiedNanoseconds: st.st_mtim.tv_nsec)
        if lock.withLock({ passed[root.path] == stamp }) { return }
        let empty = LocalFiles.isEmptyFolder(root.path)
        try lock.withLock {
            // A file system may hand the same inode to a new folder: emptiness after content is the tell-tale too.
            if empty, (seen[root.path].map { $0 != now } ?? false) || hadContent.contains(root.path) {
                throw ProviderError(.unavailable,
                    "root '\(root.name)' of site '\(root.site)' (\(root.path)) is now an empty folder, but this process saw it hold files (an unmounted share?); mount it again (if it was emptied on purpose, restart the server)")
            }
            seen[root.path] = now
            if !empty { hadContent.insert(root.path) }
            passed[root.path] = stamp
        }
    }

    /// A file was just put under the root: from now on, an empty root means it went away.
    public func noteWritten(_ root: SiteRoot) {
        lock.withLock { _ = hadContent.insert(root.path) }
    }

    /// SiteSync itself just deleted files under the root: an empty root is expected now.
    public func noteDeleted(under root: String) {
        guard LocalFiles.isEmptyFolder(root) else { return }
        lock.withLock {
            _ = hadContent.remove(root)
            passed[root] = nil
        }
    }
}

extension LocalFiles {
    /// True for a folder with nothing in it (or one that cannot be listed).
    public static func isEmptyFolder(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return true }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { return false }
        }
        return true
    }

    /// Creates the folders between `root` and `folder`, never `root` itself: when the root vanished, the first
    /// `mkdir` fails instead of re-creating it under an empty mount point.
    public static func createFolders(_ folder: String, below root: String) throws {
        let base = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        guard folder != base else { return }
        guard folder.hasPrefix(base == "/" ? "/" : base + "/") else {
            throw ProviderError(.configuration, "\(folder) is not inside the site root \(root)")
        }
        // Usually there already (a version's second file): one look instead of a mkdir per level.
        guard !isDirectory(folder) else { return }
        var current = base
        for part in folder.dropFirst(base.count).split(separator: "/") {
            current = current == "/" ? "/" + part : current + "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw error(errno == ENOENT ? "the site root vanished; cannot create" : "cannot create folder", current)
            }
        }
    }
}
