import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way SiteSync writes a file into a local folder: into `.NAME.sitesync.part` beside it, hashed on the
/// way and flushed, compared with what the catalog expects, renamed into place, and the rename flushed too.
/// A crash, a kill or a mismatch never leaves a partial file under the final name.
///
/// Publish, the Local Drive provider and the engine's downloads all go through here.
public struct VerifiedLocalWrite: Sendable {
    public let finalPath: String
    public let temporary: String
    /// What the bytes must be; nil when they define the content (publish records what it wrote).
    public let expected: ContentDigest?
    /// Names the source in an integrity error (`studio:/mnt/…`).
    public let source: String

    public init(to finalPath: String, expected: ContentDigest?, source: String) {
        self.finalPath = finalPath
        self.temporary = LocalFiles.temporaryPath(for: finalPath)
        self.expected = expected
        self.source = source
    }

    /// Blocking: creates the folder, lets `body` fill the temporary file and return the digest of its whole
    /// content, verifies, renames. Call it on a blocking-I/O thread (`BlockingIO.run`).
    public func run(_ body: (_ temporary: String) throws -> ContentDigest) throws -> ContentDigest {
        do {
            try LocalFiles.createDirectories((finalPath as NSString).deletingLastPathComponent)
            return try commit(try body(temporary))
        } catch {
            LocalFiles.remove(temporary)
            throw error
        }
    }

    /// For bodies that stream from the network. `keepInterrupted`: a transfer that broke off keeps its bytes
    /// for the next attempt to continue after (a provider with resumable downloads); anything else starts over.
    public func run(keepInterrupted: Bool, _ body: (_ temporary: String) async throws -> ContentDigest) async throws -> ContentDigest {
        do {
            let folder = (finalPath as NSString).deletingLastPathComponent
            try await BlockingIO.run { _ in try LocalFiles.createDirectories(folder) }
            let digest = try await body(temporary)
            return try await BlockingIO.run { _ in try commit(digest) }
        } catch {
            if !(keepInterrupted && Self.isInterruption(error)) {
                let temporary = self.temporary
                _ = try? await BlockingIO.run { _ in LocalFiles.remove(temporary) }
            }
            throw error
        }
    }

    /// Verifies the bytes written, renames them into place and flushes the folder so the new name is durable.
    func commit(_ digest: ContentDigest) throws -> ContentDigest {
        if let expected, digest != expected {
            throw ProviderError(.integrity, "\(source) does not match the catalog: got \(digest), expected \(expected)")
        }
        try LocalFiles.rename(temporary, to: finalPath)
        LocalFiles.syncFolder(of: finalPath)
        return digest
    }

    /// A transfer that broke off (network, site gone, cancelled) rather than one that went wrong.
    public static func isInterruption(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let kind = (error as? ProviderError)?.kind else { return false }
        return [.transient, .unavailable, .cancelled, .quota].contains(kind)
    }
}
