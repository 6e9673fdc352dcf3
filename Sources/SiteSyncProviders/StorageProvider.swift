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
/// - a site root is never created, and a file the provider did not write is never overwritten or deleted;
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
    /// upload fails with `.sourceCorrupt` and nothing is left under `path`; a missing local file is `.sourceMissing`.
    /// Folders below the site root are created;
    /// a missing root is `.unavailable`, never created. A file already at `path` is never overwritten: one with
    /// the expected content is adopted (nothing sent), any other is moved aside to a conflict name.
    @discardableResult
    func upload(localFile: String, to path: String, expected: ContentDigest, progress: @escaping ProgressHandler) async throws -> WriteReport

    /// Writes the file at `path` into the local file `destination` (created or truncated) and returns the digest
    /// of the bytes written. The caller verifies it, makes the file durable and renames it into place: a provider
    /// need not flush it (a download into scratch space for a check never needs that).
    func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest

    /// Like `download`, but continues after the bytes `destination` already holds (an earlier attempt's) when the
    /// provider can; the digest covers the whole file, so a bad kept prefix still fails verification.
    func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest

    /// Deletes the file, then every folder it leaves empty up to, not including, `root`.
    func delete(_ path: String, pruneUpTo root: String?) async throws

    /// The size and SHA-256 the storage itself records for the file, without reading it; nil when the storage
    /// keeps no SHA-256 (then the bytes are read to check it). Providers with `.reportsContentHash` answer.
    func storedDigest(_ path: String) async throws -> ContentDigest?

    /// Copies the file at `path` to `destination` on the storage itself (providers with `.serverSideCopy`), under
    /// the same rules as `upload`: the copy must prove `expected` (else `.sourceCorrupt`, nothing left under
    /// `destination`), a missing `path` is `.sourceMissing`, and a file already at `destination` is adopted or
    /// moved aside, never overwritten.
    @discardableResult
    func copy(_ path: String, to destination: String, expected: ContentDigest) async throws -> WriteReport
}

extension StorageProvider {
    public func storedDigest(_ path: String) async throws -> ContentDigest? { nil }

    /// Providers without `.serverSideCopy`: the engine never asks.
    public func copy(_ path: String, to destination: String, expected: ContentDigest) async throws -> WriteReport {
        throw ProviderError(.configuration, "site '\(siteName)' cannot copy files on the storage itself")
    }

    /// Providers that cannot continue start over.
    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, to: destination, progress: progress)
    }
}
