import CFileSystem
import Foundation
import SiteSyncModel
#if canImport(Glibc)
import Glibc
#endif

/// Makes many small files durable with a few flushes instead of two each (the data before the rename, the folder
/// after it). Writers that finish at about the same time share one flush, as a database's transactions share one
/// log write (group commit): a round flushes what every writer waiting when it starts needs, and writers arriving
/// during it wait for the next round.
///
/// Sharing is used on local file systems whose journal commits many files' metadata at once (`canShare`); on the
/// others (network and FUSE mounts) writers flush file by file.
public enum GroupFlush {
    /// What one writer needs made durable.
    public enum Need: Sendable, Hashable {
        /// The bytes written so far to this file (and the file itself).
        case data(of: String)
        /// The entries of this folder: a rename into it.
        case folder(String)
    }

    /// The flushes of this process.
    public static let shared = GroupCommit<Need, Void> { needs in
        let failures = (try? await BlockingIO.run { _ in perform(Set(needs)) }) ?? [:]
        return needs.map { need in failures[need].map { .failure($0) } ?? .success(()) }
    }

    /// Blocking: writes back every file's data at once, then waits for each (the journal commit the first one
    /// forces carries the others' new inodes too), then flushes each folder whose new names a writer waits for.
    /// Only these files and folders are flushed, never the rest of the file system (a `syncfs` would also wait
    /// for every other program's dirty data).
    static func perform(_ needs: Set<Need>) -> [Need: ProviderError] {
        var failures: [Need: ProviderError] = [:]
        var files: [(Need, String, Int32)] = []
        for need in needs {
            guard case .data(let path) = need else { continue }
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else {
                failures[need] = ProviderError(.transient, "cannot flush \(path): \(LocalFiles.errnoMessage())")
                continue
            }
            _ = sync_file_range(fd, 0, 0, UInt32(LocalFiles.SYNC_FILE_RANGE_WRITE))
            files.append((need, path, fd))
        }
        for (need, path, fd) in files {
            if fdatasync(fd) != 0 {
                failures[need] = ProviderError(.transient, "cannot flush \(path): \(LocalFiles.errnoMessage())")
            }
            close(fd)
        }
        for need in needs {
            guard case .folder(let path) = need else { continue }
            // Best effort, as for a single file: some file systems refuse fsync on a folder.
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                _ = fsync(fd)
                close(fd)
            }
        }
        return failures
    }

    /// Local file systems with a journal (or none needed): flushes issued together there share their commits.
    static let sharedTypes: Set<Int> = [
        0xEF53,       // ext2/3/4
        0x5846_5342,  // xfs
        0x9123_683E,  // btrfs
        0xF2F5_2010,  // f2fs
        0x0102_1994,  // tmpfs
    ]

    /// Whether files written in `folder` can share flushes.
    public static func canShare(_ folder: String) -> Bool {
        var info = statfs()
        guard statfs(folder, &info) == 0 else { return false }
        return sharedTypes.contains(Int(info.f_type))
    }
}
