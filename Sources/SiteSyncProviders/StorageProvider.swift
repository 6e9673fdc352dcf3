import Crypto
import Foundation
import SiteSyncModel
#if canImport(Glibc)
import Glibc
#endif

/// Size and SHA-256 of a file's content.
public struct ContentDigest: Sendable, Equatable, CustomStringConvertible {
    public var size: Int64
    /// Lower-case hex.
    public var sha256: String
    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
    public var description: String { "\(size) bytes, sha256 \(sha256)" }
}

public struct RemoteFileInfo: Sendable, Equatable {
    public var size: Int64
    public var modified: Date?
    public init(size: Int64, modified: Date?) {
        self.size = size
        self.modified = modified
    }
}

/// Bytes done so far in one transfer. Called often; cheap.
public typealias ProgressHandler = @Sendable (Int64) -> Void

/// How to reach one site. Paths are the site's own (a root already resolved), so a provider never sees the
/// catalog or the settings layering.
///
/// Contract, checked for every provider by `ProviderConformance`:
/// - nothing appears under a final name until it is complete and verified (temporary name, then rename);
/// - a failed or cancelled transfer leaves nothing under the final name and cleans its temporary file, or
///   keeps it only to resume;
/// - transfers stream: memory does not grow with file size;
/// - cancellation (Swift task cancellation) stops a transfer between chunks.
public protocol StorageProvider: Sendable {
    var siteName: String { get }

    /// Checks that the site can be used (reachable, authenticated, each root exists and is writable) and says
    /// what it found, one line per fact. Throws a `ProviderError` naming the problem and the fix.
    func check() async throws -> [String]

    /// nil if there is no file at `path`.
    func stat(_ path: String) async throws -> RemoteFileInfo?

    /// Copies a local file to `path`. The content is hashed while it is sent and must match `expected`, or the
    /// upload fails with `.integrity` and nothing is left under `path`. Parent folders are created.
    func upload(localFile: String, to path: String, expected: ContentDigest, progress: @escaping ProgressHandler) async throws

    /// Writes the file at `path` into the local file `destination` (created or truncated) and returns the digest
    /// of the bytes written. The caller verifies it and renames `destination` into place.
    func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest

    /// Like `download`, but continues after the bytes `destination` already holds (an earlier attempt's) when the
    /// provider can; the digest covers the whole file, so a bad kept prefix still fails verification.
    func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest

    /// Deletes the file, then every folder it leaves empty up to, not including, `root`.
    func delete(_ path: String, pruneUpTo root: String?) async throws
}

extension StorageProvider {
    /// Providers that cannot continue start over.
    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, progress: progress)
    }
}

/// The kept prefix of a partial download: its size and the hash state over it.
public enum PartialDownload {
    /// Opens `destination` for appending after hashing what it holds, if it holds less than `size` bytes;
    /// otherwise truncates it. Returns the descriptor, the bytes kept and the hash over them.
    public static func open(_ destination: String, remoteSize: Int64) throws -> (fd: Int32, kept: Int64, hasher: SHA256) {
        var hasher = SHA256()
        var kept: Int64 = 0
        if let size = LocalFiles.fileSize(destination), size > 0, size < remoteSize {
            let fd = Glibc.open(destination, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: LocalFiles.chunkSize, alignment: 16)
                defer { buffer.deallocate() }
                while kept < size {
                    let n = read(fd, buffer.baseAddress, min(LocalFiles.chunkSize, Int(size - kept)))
                    if n <= 0 { break }
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    kept += Int64(n)
                }
            }
        }
        let flags = kept > 0 ? (O_WRONLY | O_APPEND | O_CLOEXEC) : (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        if kept > 0 { truncate(destination, off_t(kept)) }
        let fd = Glibc.open(destination, flags, 0o644)
        guard fd >= 0 else { throw ProviderError(.transient, "cannot write \(destination): \(LocalFiles.errnoMessage())") }
        return (fd, kept, kept > 0 ? hasher : SHA256())
    }
}

public struct ProviderError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The file is not there.
        case notFound
        /// Settings are wrong or incomplete; a person must change them.
        case configuration
        /// The site cannot be reached now (unmounted disk, network).
        case unavailable
        /// Content did not match its hash.
        case integrity
        /// Rate limit or quota: retry later without counting a try.
        case quota
        /// Anything else that may work on a later try.
        case transient
        case cancelled
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Makes providers from site settings, by provider name (`local_drive`, `sftp`, …).
public struct ProviderRegistry: Sendable {
    public typealias Factory = @Sendable (SiteConfig, Platform) throws -> any StorageProvider

    struct Entry: Sendable {
        var make: Factory
        var defaultConcurrency: Int
    }

    var entries: [String: Entry] = [:]

    public init() {}

    public mutating func register(_ provider: String, defaultConcurrency: Int, make: @escaping Factory) {
        entries[provider] = Entry(make: make, defaultConcurrency: defaultConcurrency)
    }

    public var providerNames: [String] { entries.keys.sorted() }

    public func make(_ site: SiteConfig, platform: Platform = .current) throws -> any StorageProvider {
        guard let entry = entries[site.provider] else {
            throw ProviderError(.configuration,
                "site '\(site.name)' uses provider '\(site.provider)', which this build does not have (available: \(providerNames.joined(separator: ", ")))")
        }
        return try entry.make(site, platform)
    }

    /// Transfers at once involving the site: its `concurrency` setting, else the provider's default.
    public func concurrency(of site: SiteConfig) -> Int {
        site.concurrency ?? entries[site.provider]?.defaultConcurrency ?? 2
    }
}
