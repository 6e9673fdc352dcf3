import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SiteSyncModel
import SiteSyncProviders

/// Every storage rclone reaches (Dropbox, OneDrive, Box, Azure, B2, WebDAV, FTP, …, about 70 backends) as a
/// SiteSync site, driven through one long-lived `rclone rcd` per site over its remote-control API: no process per
/// file, live progress from rclone's stats.
///
/// SiteSync keeps its promises around rclone as around any provider: the source is hashed before it is sent, an
/// upload lands under a temporary name and is moved into place only after the strongest hash the backend has
/// (SHA-256, SHA-1 or MD5, through `operations/stat`) matches the source's — or, for a backend with none, after it
/// is read back and hashed; a different file in the way is moved aside; a root is never created; a download is
/// hashed by SiteSync before the engine renames it.
public final class RcloneProvider: StorageProvider {
    public static let name = "rclone"
    public static let defaultConcurrency = 4
    /// Below this a copy is one synchronous call (no job to poll): small files are most of a render's frames.
    static let syncCopyLimit: Int64 = 8 << 20

    public let siteName: String
    let settings: RcloneSettings
    let daemon: RcloneDaemon
    let logger: Logger
    private let info = FsInfoCache()

    public init(site: SiteConfig, platform: Platform, logger: Logger = Logger(label: "sitesync.rclone")) throws {
        settings = try RcloneSettings(site: site, platform: platform)
        siteName = site.name
        self.logger = logger
        daemon = RcloneDaemon(settings: settings, logger: logger)
    }

    deinit {
        let daemon = self.daemon
        Task { await daemon.stop() }
    }

    public static let description = ProviderDescription(
        schema: RcloneSettings.schema,
        capabilities: [.reportsContentHash],
        defaultConcurrency: defaultConcurrency,
        summary: "any rclone remote (Dropbox, OneDrive, Box, Azure, B2, WebDAV, FTP, …) through one rclone rcd per site",
        make: { site, platform in
            try RcloneProvider(site: site, platform: platform)
        })

    // MARK: Remote control

    /// Calls one rc method and returns its JSON answer; rclone's errors become the engine's kinds.
    func rc(_ method: String, _ params: [String: ConfigValue]) async throws -> Data {
        let endpoint = try await daemon.endpoint()
        var request = HTTPClientRequest(url: endpoint.base + method)
        request.method = .POST
        request.headers.add(name: "Authorization", value: endpoint.authorization)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(ConfigValue.map(params))))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
            body = try await response.body.collect(upTo: 64 << 20)
        } catch {
            if Task.isCancelled { throw ProviderError(.cancelled, "transfer cancelled") }
            // The daemon died or stopped answering: the next call starts another.
            await daemon.forget(endpoint.instance)
            throw ProviderError(.transient, "site '\(siteName)': rclone rcd did not answer \(method): \(error); it is restarted for the next try\(endpoint.instance.tail.isEmpty ? "" : " (it said: \(endpoint.instance.tail))")")
        }
        let data = Data(buffer: body)
        guard response.status == .ok else {
            let message = (try? JSONDecoder().decode(RcError.self, from: data))?.error ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw Self.error(message, status: Int(response.status.code), site: siteName, what: method)
        }
        return data
    }

    struct RcError: Decodable { var error: String }

    /// rclone's words as a provider error: not found, refused credentials, unreachable, rate limits.
    static func error(_ message: String, status: Int, site: String, what: String) -> ProviderError {
        let text = RcloneDaemon.redact(message)
        let lower = text.lowercased()
        let kind: ProviderError.Kind
        if status == 404 || lower.contains("not found") || lower.contains("no such file") || lower.contains("doesn't exist") {
            kind = .notFound
        } else if lower.contains("didn't find section in config file") || lower.contains("config file") && lower.contains("not found")
                    || lower.contains("unable to authenticate") || lower.contains("accessdenied") || lower.contains("permission denied")
                    || lower.contains("invalidaccesskeyid") || lower.contains("signaturedoesnotmatch") || lower.contains("unauthorized")
                    || lower.contains("couldn't find backend") || lower.contains("unknown backend") {
            kind = .configuration
        } else if lower.contains("connection refused") || lower.contains("no such host") || lower.contains("i/o timeout")
                    || lower.contains("network is unreachable") || lower.contains("couldn't connect") {
            kind = .unavailable
        } else if lower.contains("too many requests") || lower.contains("rate limit") || lower.contains("slowdown") || lower.contains("quota") {
            kind = .quota
        } else {
            kind = .transient
        }
        return ProviderError(kind, "site '\(site)': rclone \(what): \(text)")
    }

    /// Runs a copy or move as an rclone job, reporting its bytes from `core/stats` until it ends.
    func job(_ method: String, _ params: [String: ConfigValue], size: Int64, progress: ProgressHandler?) async throws {
        // A small copy is one call; a throttled or large one is a job that progress follows and cancellation stops.
        guard size >= Self.syncCopyLimit || settings.bytesPerSecond != nil else {
            _ = try await rc(method, params)
            return
        }
        var p = params
        p["_async"] = .bool(true)
        let started = try JSONDecoder().decode(JobStart.self, from: try await rc(method, p))
        let id = started.jobid
        try await withTaskCancellationHandler {
            var pause = 20
            while true {
                try await Task.sleep(for: .milliseconds(pause))
                pause = min(250, pause * 2)
                let status = try JSONDecoder().decode(JobStatus.self, from: try await rc("job/status", ["jobid": .int(id)]))
                if let progress, let stats = try? JSONDecoder().decode(Stats.self, from: try await rc("core/stats", ["group": .string("job/\(id)")])) {
                    progress(stats.bytes)
                }
                if status.finished {
                    guard status.success else {
                        throw Self.error(status.error ?? "failed", status: 500, site: siteName, what: method)
                    }
                    return
                }
            }
        } onCancel: {
            Task { _ = try? await self.rc("job/stop", ["jobid": .int(id)]) }
        }
    }

    struct JobStart: Decodable { var jobid: Int }
    struct JobStatus: Decodable {
        var finished: Bool
        var success: Bool
        var error: String?
    }
    struct Stats: Decodable { var bytes: Int64 }

    /// A site path relative to the remote's root, as rc's `remote` parameter.
    func rel(_ path: String) -> String { path.hasPrefix("/") ? String(path.dropFirst()) : path }

    /// A local path as rc's `remote` on the local root `/`.
    static func local(_ path: String) -> String { path.hasPrefix("/") ? String(path.dropFirst()) : path }

    // MARK: What is there

    struct Item: Decodable {
        var Size: Int64
        var IsDir: Bool
        var ModTime: String?
        var Hashes: [String: String]?
    }
    struct StatAnswer: Decodable { var item: Item? }

    func item(_ path: String, hash: String? = nil) async throws -> Item? {
        var opt: [String: ConfigValue] = [:]
        if let hash {
            opt["showHash"] = .bool(true)
            opt["hashTypes"] = .list([.string(hash)])
        }
        let data = try await rc("operations/stat", ["fs": .string(settings.rootFs), "remote": .string(rel(path)), "opt": .map(opt)])
        return try JSONDecoder().decode(StatAnswer.self, from: data).item
    }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        guard let i = try await item(path), !i.IsDir else { return nil }
        return RemoteFileInfo(size: i.Size, modified: i.ModTime.flatMap { try? Date($0, strategy: .iso8601) })
    }

    public func storedDigest(_ path: String) async throws -> ContentDigest? {
        guard try await fsInfo().hashes.contains("sha256"), let i = try await item(path, hash: "sha256"), !i.IsDir,
              let sha = i.Hashes?["sha256"], !sha.isEmpty else { return nil }
        return ContentDigest(size: i.Size, sha256: sha.lowercased())
    }

    /// What rclone says about the remote: its backend, the hashes it has, whether it keeps empty folders.
    struct FsInfo: Sendable {
        var backend: String
        var hashes: [String]
        var folders: Bool
        /// The strongest hash SiteSync can compute too: what uploads are proved with.
        var proof: String? { ["sha256", "sha1", "md5"].first { hashes.contains($0) } }
    }

    func fsInfo() async throws -> FsInfo {
        if let known = info.value { return known }
        struct Answer: Decodable {
            var Name: String
            var Hashes: [String]?
            var Features: [String: Bool]?
        }
        let a = try JSONDecoder().decode(Answer.self, from: try await rc("operations/fsinfo", ["fs": .string(settings.rootFs)]))
        let value = FsInfo(backend: a.Name, hashes: a.Hashes ?? [], folders: a.Features?["CanHaveEmptyDirectories"] ?? true)
        info.value = value
        return value
    }

    // MARK: Check

    public func check() async throws -> [String] {
        guard !settings.roots.isEmpty else {
            throw ProviderError(.configuration, "site '\(siteName)' has no roots; add e.g. `roots: {work: /studio}` (paths on the remote)")
        }
        struct Version: Decodable { var version: String }
        let version = try JSONDecoder().decode(Version.self, from: try await rc("core/version", [:])).version
        let fs = try await fsInfo()
        var lines = [
            "rclone \(version), remote \(RcloneDaemon.redact(settings.remote)) (backend \(fs.backend))",
            "hashes: \(fs.hashes.isEmpty ? "none" : fs.hashes.joined(separator: ", ")); uploads proved by "
                + (fs.proof.map { "the backend's \($0)" } ?? "reading them back (the backend has no hash SiteSync can check)"),
        ]
        for (name, root) in settings.roots.sorted(by: { $0.key < $1.key }) {
            if fs.folders {
                guard let i = try await item(root), i.IsDir else {
                    throw ProviderError(.unavailable, "root '\(name)' of site '\(siteName)' is \(root), which does not exist on \(RcloneDaemon.redact(settings.remote)); create it there (SiteSync never creates a site root) or fix the site's roots")
                }
            }
            if let refused = try await probe(root) {
                lines.append("root \(name): \(root)\(fs.folders ? " (exists)" : ""); writing is refused (\(refused)): copies can come from this site but not go to it")
            } else {
                lines.append("root \(name): \(root) (\(fs.folders ? "exists; " : "")write, move and delete work)")
            }
        }
        return lines
    }

    /// Copies, moves and deletes a small file in the root: proof that the remote takes what a sync does. Returns
    /// why writing was refused (a remote that may only be read), nil when all worked; leaves nothing behind.
    func probe(_ root: String) async throws -> String? {
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("sitesync-probe-\(UUID().uuidString)").path
        try Data("SiteSync write probe; safe to delete\n".utf8).write(to: URL(fileURLWithPath: local))
        defer { try? FileManager.default.removeItem(atPath: local) }
        let stamp = UUID().uuidString.prefix(8).lowercased()
        let first = root + "/.sitesync-check-\(stamp).part", second = root + "/.sitesync-check-\(stamp)"
        do {
            _ = try await rc("operations/copyfile", ["srcFs": .string("/"), "srcRemote": .string(Self.local(local)),
                                                     "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(first))])
        } catch let e as ProviderError where e.kind == .configuration {
            return e.message
        }
        do {
            _ = try await rc("operations/movefile", ["srcFs": .string(settings.rootFs), "srcRemote": .string(rel(first)),
                                                     "dstFs": .string(settings.rootFs), "dstRemote": .string(rel(second))])
            _ = try await rc("operations/deletefile", ["fs": .string(settings.rootFs), "remote": .string(rel(second))])
            return nil
        } catch {
            for leftover in [first, second] {
                _ = try? await rc("operations/deletefile", ["fs": .string(settings.rootFs), "remote": .string(rel(leftover))])
            }
            throw error
        }
    }

    // MARK: Delete

    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        do {
            _ = try await rc("operations/deletefile", ["fs": .string(settings.rootFs), "remote": .string(rel(path))])
        } catch let e as ProviderError where e.kind == .notFound {}
        guard let root, try await fsInfo().folders else { return }
        var folder = (path as NSString).deletingLastPathComponent
        while folder.hasPrefix(root + "/") {
            // rmdir refuses a folder with anything in it: pruning stops there.
            guard (try? await rc("operations/rmdir", ["fs": .string(settings.rootFs), "remote": .string(rel(folder))])) != nil else { return }
            folder = (folder as NSString).deletingLastPathComponent
        }
    }
}

/// The remote's facts, asked once per provider.
final class FsInfoCache: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: RcloneProvider.FsInfo?
    var value: RcloneProvider.FsInfo? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
