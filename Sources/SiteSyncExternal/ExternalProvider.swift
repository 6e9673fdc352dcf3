import Foundation
import Logging
import SiteSyncModel
import SiteSyncProviders
import Synchronization

/// A site served by a program a studio writes in any language (`provider: external`), speaking the line
/// protocol of `docs/external-providers.md` on its stdin and stdout.
///
/// The program does only the storage's primitive operations (stat, put, get, move, delete, mkdir, rmdir, hash);
/// SiteSync stays the guardian of every promise: it hashes the source before sending, writes under a temporary
/// name and moves into place only after the upload is proved (the storage's hash, a read-back or the size, by
/// `verify_uploads`), moves a different file aside instead of replacing it, creates only folders below a root
/// that exists, and hashes every download itself before the engine renames it.
public final class ExternalProvider: StorageProvider {
    public static let name = "external"
    public static let defaultConcurrency = 2

    public let siteName: String
    let settings: ExternalSettings
    let pool: ProcessPool
    let logger: Logger
    private let nextID = Atomic<Int>(1)

    public init(site: SiteConfig, platform: Platform, logger: Logger = Logger(label: "sitesync.external")) throws {
        settings = try ExternalSettings(site: site, platform: platform)
        siteName = site.name
        self.logger = logger
        pool = ProcessPool(settings: settings, limit: site.concurrency ?? Self.defaultConcurrency, logger: logger)
    }

    deinit {
        let pool = self.pool
        Task { await pool.stopAll() }
    }

    public static let description = ProviderDescription(
        schema: ExternalSettings.schema,
        // What the engine may ask; each call answers within what the program declared at its hello (a download
        // it cannot continue starts over, a storage without SHA-256 is read to be checked).
        capabilities: [.resumableDownloads, .reportsContentHash, .declaredByProvider],
        defaultConcurrency: defaultConcurrency,
        summary: "a program in any language speaking SiteSync's provider protocol (docs/external-providers.md)",
        make: { site, platform in
            try ExternalProvider(site: site, platform: platform)
        })

    // MARK: Talking to the program

    /// Sends one request to a program of the pool and returns its answer (an error answer included).
    func send(_ op: String, progress: ProgressHandler? = nil, _ fill: (inout ExternalRequest) -> Void) async throws -> ExternalAnswer {
        var request = ExternalRequest(id: nextID.add(1, ordering: .relaxed).oldValue, op: op)
        fill(&request)
        let sendable = request
        return try await pool.with { process in
            try await process.call(sendable, progress: progress)
        }
    }

    /// Like `send`, but an error answer throws, as the engine's error kind.
    func perform(_ op: String, what: String, progress: ProgressHandler? = nil,
                 _ fill: (inout ExternalRequest) -> Void) async throws -> ExternalResult? {
        switch try await send(op, progress: progress, fill) {
        case .result(let r): return r
        case .error(let body): throw body.providerError(site: siteName, op: what, redact: pool.redactor.redact)
        }
    }

    /// What the program declared at its hello (starting one if none has run yet).
    func hello() async throws -> ExternalHello {
        if let known = await pool.lastHello { return known }
        return try await pool.with { $0.hello }
    }

    /// The upload proof this site uses, given what its program can do.
    func uploadProof(_ caps: ExternalCapabilities) throws -> ExternalSettings.UploadVerification {
        switch settings.verifyUploads {
        case .auto: return caps.hash == nil ? .readback : .hash
        case .hash where caps.hash == nil:
            throw ProviderError(.configuration, "sites.\(siteName).verify_uploads is hash, but the provider reports no hash; use readback (or auto)")
        default: return settings.verifyUploads
        }
    }

    // MARK: What is there

    struct Entry {
        var isFolder: Bool
        var size: Int64
        var modified: Date?
    }

    func entry(_ path: String) async throws -> Entry? {
        guard let r = try await perform("stat", what: "stat \(path)", progress: nil, { $0.path = path }) else { return nil }
        return Entry(isFolder: r.type == "folder", size: r.size ?? 0, modified: r.modified.map { Date(timeIntervalSince1970: $0) })
    }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        guard let e = try await entry(path), !e.isFolder else { return nil }
        return RemoteFileInfo(size: e.size, modified: e.modified)
    }

    /// The storage's own hash of a file, of the kind the program declared; nil when it has none.
    func storageHash(_ path: String, caps: ExternalCapabilities) async throws -> (hash: String, size: Int64?)? {
        guard caps.hash != nil else { return nil }
        guard let r = try await perform("hash", what: "hash \(path)", progress: nil, { $0.path = path }), let h = r.hash else { return nil }
        return (h.lowercased(), r.size)
    }

    public func storedDigest(_ path: String) async throws -> ContentDigest? {
        let caps = try await hello().capabilities
        guard caps.hash == "sha256", let e = try await entry(path), !e.isFolder,
              let (hash, _) = try await storageHash(path, caps: caps) else { return nil }
        return ContentDigest(size: e.size, sha256: hash)
    }

    // MARK: Check

    public func check() async throws -> [String] {
        guard !settings.roots.isEmpty else {
            throw ProviderError(.configuration, "site '\(siteName)' has no roots; add e.g. `roots: {work: /studio}` (paths in the provider's storage)")
        }
        let hello = try await hello()
        let caps = hello.capabilities
        let proof = try uploadProof(caps)
        var lines = ["provider \(hello.shownName) (`\(settings.shownCommand)`), protocol \(hello.protocol)"]
        var can: [String] = []
        can.append(caps.hash.map { "storage hash \($0)" } ?? "no storage hash")
        can.append(caps.resumableDownloads ? "resumable downloads" : "downloads start over")
        can.append(caps.folders ? "folders" : "flat keys (no folders)")
        lines.append("capabilities: " + can.joined(separator: ", "))
        lines.append("uploads proved by: \(proof.rawValue) — \(Self.guarantee(proof, hash: caps.hash))")
        for key in hello.secretOptions.sorted() where !ExternalSettings.conventionalSecretKeys.contains(key) {
            lines.append("warning: the provider keeps option '\(key)' secret, but `settings show` hides only options named \(ExternalSettings.conventionalSecretKeys.sorted().joined(separator: ", ")); rename it to one of those")
        }
        if let said = try await perform("check", what: "check", { _ in })?.lines {
            lines += said.map(pool.redactor.redact)
        }
        for (name, root) in settings.roots.sorted(by: { $0.key < $1.key }) {
            if caps.folders {
                guard let e = try await entry(root), e.isFolder else {
                    throw ProviderError(.unavailable, "root '\(name)' of site '\(siteName)' is \(root), which does not exist on the storage; create it there (SiteSync never creates a site root) or fix the site's roots")
                }
            }
            let what = caps.folders ? "exists" : "a key prefix"
            if let refused = try await probe(root, caps: caps, proof: proof) {
                lines.append("root \(name): \(root) (\(what)); writing is refused (\(refused)): copies can come from this site but not go to it")
            } else {
                lines.append("root \(name): \(root) (\(what); put, proof, move and delete work)")
            }
        }
        return lines
    }

    /// What each proof gives, for `site check` (the README's Providers chapter says the same).
    static func guarantee(_ proof: ExternalSettings.UploadVerification, hash: String?) -> String {
        switch proof {
        case .hash: return "the storage's \(hash ?? "") of what it holds must match the source's"
        case .readback: return "every upload is read back and its SHA-256 compared (costs a download)"
        case .size: return "only the size is compared: the source is hashed, the stored bytes are not"
        case .auto: return ""
        }
    }

    /// Puts a small file into the root, proves it as an upload is proved, moves and deletes it: what a sync does,
    /// and the program's hashes checked once. Returns why writing was refused (a site that may only be read), or
    /// nil when everything worked; leaves nothing behind either way.
    func probe(_ root: String, caps: ExternalCapabilities, proof: ExternalSettings.UploadVerification) async throws -> String? {
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("sitesync-probe-\(UUID().uuidString)").path
        let body = Data("SiteSync write probe; safe to delete\n".utf8)
        try body.write(to: URL(fileURLWithPath: local))
        defer { try? FileManager.default.removeItem(atPath: local) }
        let stamp = UUID().uuidString.prefix(8).lowercased()
        let first = root + "/.sitesync-check-\(stamp).part"
        let second = root + "/.sitesync-check-\(stamp)"
        let source = try await SourceHashes.of(local, also: caps.hash)
        var written = false
        do {
            let put: ExternalResult?
            do {
                put = try await perform("put", what: "put a probe into \(root)", progress: nil) {
                    $0.path = first
                    $0.local = local
                    $0.size = source.digest.size
                    $0.sha256 = source.digest.sha256
                }
            } catch let e as ProviderError where e.kind == .configuration {
                return e.message
            }
            written = true
            try await prove(first, final: first, proof: proof, reported: put?.hash, source: source, caps: caps)
            _ = try await perform("move", what: "move a probe in \(root)", progress: nil) {
                $0.from = first
                $0.to = second
            }
            guard try await stat(second)?.size == source.digest.size else {
                throw ProviderError(.transient, "site '\(siteName)': the provider moved a probe in \(root) but stat does not show it with its size")
            }
            _ = try await perform("delete", what: "delete a probe in \(root)", progress: nil) { $0.path = second }
            return nil
        } catch {
            if written {
                _ = try? await send("delete", { $0.path = first })
                _ = try? await send("delete", { $0.path = second })
            }
            throw error
        }
    }

    // MARK: Delete

    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        switch try await send("delete", { $0.path = path }) {
        case .result: break
        case .error(let body) where body.kind == "not_found": break
        case .error(let body): throw body.providerError(site: siteName, op: "delete \(path)", redact: pool.redactor.redact)
        }
        guard try await hello().capabilities.folders, let root else { return }
        var folder = (path as NSString).deletingLastPathComponent
        while folder.hasPrefix(root + "/") {
            // `not_empty` (or anything else) ends the pruning: a folder with files in it stays.
            guard case .result = try await send("rmdir", { $0.path = folder }) else { return }
            folder = (folder as NSString).deletingLastPathComponent
        }
    }
}
