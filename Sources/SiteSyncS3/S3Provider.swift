import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SiteSyncModel
import SiteSyncProviders

/// Sites in an S3 bucket: AWS S3 or any S3-compatible storage (MinIO, Cloudflare R2, Backblaze B2, Wasabi, Ceph,
/// SeaweedFS). Signed with Signature Version 4; every body's SHA-256 is signed, so S3 refuses bytes changed on
/// the way.
///
/// Nothing is visible under a key before it is complete: a small file is one `PutObject`, a large one a multipart
/// upload whose parts travel in parallel and which is completed only after the SHA-256 of everything read matches
/// the catalog. The whole file's SHA-256 is stored on the object (`x-amz-meta-sha256`) and read back with
/// `HeadObject`. A key is never overwritten blindly: writes are conditional (`If-None-Match: *`), a different
/// object in the way is first copied to a conflict name and then replaced only if unchanged (`If-Match`).
public final class S3Provider: StorageProvider {
    public static let name = "s3"
    /// S3 serves many requests at once; small files gain most from several in flight.
    public static let defaultConcurrency = 8
    /// A small file costs one request's round trip, which many in flight share (the connection pool allows 64).
    /// Measured (bench/s3-bench.sh, 1,000 x 4 KiB down from SeaweedFS): 2 a slot 375 files/s, 4: 430, 8: 530,
    /// 16: 600. Measured again on 2026-12-07 (downloads, interleaved with rclone, 4 rounds each): 8 a slot 1,122
    /// files/s, 16: 1,205, 32: 1,457 (and 1,124 in a second run), 64: 1,357 (rclone 1,349 in that run): larger
    /// claims, catalog transactions and write batches. Small uploads hold their bytes only while they have a
    /// connection's worth of turn (`smallUploads`).
    public static let smallFilesPerSlot = 64

    public let siteName: String
    let settings: S3Settings
    let client: S3Client
    let logger: Logger
    /// Bytes sent in part and object bodies by this provider (tests compare a resumed upload's with the file's).
    let sent = ByteCounter()
    /// Bytes read back to prove an object (tests check that a server-side copy S3 vouches for reads nothing).
    let readBack = ByteCounter()
    /// Small uploads holding their file's bytes at once: as many as the connection pool serves (the others wait
    /// before they read), so 512 small files in flight hold at most 64 MiB, not 512.
    let smallUploads = AsyncPermits(S3HTTP.connectionLimit)
    /// What `check` found out about `If-None-Match` on this server.
    let conditionalWrites = ConditionalWrites()

    public init(site: SiteConfig, platform: Platform, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "sitesync.s3")) throws {
        settings = try S3Settings(site: site, platform: platform, environment: environment)
        siteName = site.name
        client = S3Client(settings: settings)
        self.logger = logger
    }

    public static let description = ProviderDescription(
        schema: S3Settings.schema,
        capabilities: [.resumableDownloads, .reportsContentHash, .serverSideCopy],
        defaultConcurrency: defaultConcurrency,
        smallFilesPerSlot: smallFilesPerSlot,
        summary: "a bucket on AWS S3 or S3-compatible storage (MinIO, R2, B2, Wasabi, Ceph), multipart in parallel, resumable",
        make: { site, platform in
            try S3Provider(site: site, platform: platform)
        })

    /// Bytes sent in request bodies since the provider was made.
    public var bytesSent: Int64 { sent.value }

    // MARK: Check

    public func check() async throws -> [String] {
        guard !settings.roots.isEmpty else {
            throw ProviderError(.configuration, "site '\(siteName)' has no roots; add e.g. `roots: {work: /studio}` (a key prefix in the bucket)")
        }
        let credentials = settings.credentials.resolved
        var lines = [
            "bucket \(settings.bucket) at \(settings.endpoint) (region \(settings.region), \(settings.pathStyle ? "path-style" : "virtual-host") addressing)",
            "identity: access key \(credentials.shownKeyID) from \(credentials.origin)",
        ]
        for (name, prefix) in settings.roots.sorted(by: { $0.key < $1.key }) {
            let folder = prefix.isEmpty ? "" : prefix + "/"
            _ = try await client.send("list \(client.describe(folder))", .GET, key: nil,
                                      query: [("list-type", "2"), ("max-keys", "1"), ("prefix", folder)])
            // A write and a delete prove the key may do what a sync does (a policy may allow listing only); the
            // same write again proves whether the server refuses to replace an object it is told not to.
            let probe = folder + ".sitesync-probe-\(UUID().uuidString.lowercased())"
            let body = Data("SiteSync write probe; safe to delete\n".utf8)
            let payload = S3Payload(bytes: ByteBuffer(data: body), sha256: LocalFiles.hex(SHA256.hash(data: body)))
            let what = "write probe \(client.describe(probe))"
            let first = try await client.send(what, .PUT, key: probe, headers: [("If-None-Match", "*"), ("Content-Type", "text/plain")],
                                              payload: payload, accept: [403, 501])
            if first.status == 403 {
                // A key that may only read still serves downloads and verification; uploads will say why they fail.
                lines.append("root \(name): \(client.describe(folder)) — list OK; writing is refused (AccessDenied): this key can only read, so copies can come from this site but not go to it")
                continue
            }
            if first.status == 501 {
                _ = try await client.send(what, .PUT, key: probe, headers: [("Content-Type", "text/plain")], payload: payload)
                conditionalWrites.learn(.refused)
            } else {
                let again = try await client.send(what, .PUT, key: probe, headers: [("If-None-Match", "*"), ("Content-Type", "text/plain")],
                                                  payload: payload, accept: [412])
                conditionalWrites.learn(again.status == 412 ? .honoured : .ignored)
            }
            _ = try await client.send("delete probe \(client.describe(probe))", .DELETE, key: probe, accept: [404])
            lines.append("root \(name): \(client.describe(folder)) — list, write and delete OK")
        }
        switch conditionalWrites.state {
        case .honoured: lines.append("conditional writes (If-None-Match) honoured: a new file is written in one request")
        case .ignored, .refused:
            lines.append("warning: this server does not honour conditional writes (If-None-Match); SiteSync looks before every write, and another program writing the same key in between could be replaced")
        case .unknown: break
        }
        return lines
    }

    // MARK: What is there

    /// An object's size, entity tag and the SHA-256 known for it.
    struct Head: Sendable {
        var size: Int64
        var etag: String
        var modified: Date?
        /// S3's own whole-object SHA-256 (a single-request upload with a checksum), else the one SiteSync stored.
        var sha256: String?
        /// S3's own whole-object SHA-256 alone: what S3 computed, never a claim stored with the object.
        var serverSHA256: String?
    }

    func head(_ key: String) async throws -> Head? {
        let r = try await client.send("look up \(client.describe(key))", .HEAD, key: key,
                                      headers: [("x-amz-checksum-mode", "ENABLED")], accept: [404])
        guard r.status != 404 else { return nil }
        let size = Int64(r.header("Content-Length") ?? "") ?? 0
        var sha: String?, server: String?
        let etag = r.header("ETag") ?? ""
        // S3's own SHA-256 of the whole object exists only for an object written in one request (a multipart
        // object's ETag ends in -N, and its checksum, if any, is of the parts).
        if !etag.contains("-"), let checksum = r.header("x-amz-checksum-sha256"), !checksum.contains("-"),
           let bytes = Data(base64Encoded: checksum), bytes.count == 32 {
            sha = LocalFiles.hex(bytes)
            server = sha
        } else if let stored = r.header("x-amz-meta-sha256")?.lowercased(), stored.count == 64,
                  stored.allSatisfy({ $0.isHexDigit }) {
            sha = stored
        }
        return Head(size: size, etag: etag, modified: r.header("Last-Modified").flatMap(S3Time.http), sha256: sha, serverSHA256: server)
    }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        guard let h = try await head(S3Settings.key(of: path)) else { return nil }
        return RemoteFileInfo(size: h.size, modified: h.modified)
    }

    public func storedDigest(_ path: String) async throws -> ContentDigest? {
        guard let h = try await head(S3Settings.key(of: path)), let sha = h.sha256 else { return nil }
        return ContentDigest(size: h.size, sha256: sha)
    }

    // MARK: Delete

    /// S3 has no folders: deleting the object leaves nothing to prune.
    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        let key = S3Settings.key(of: path)
        _ = try await client.send("delete \(client.describe(key))", .DELETE, key: key, accept: [404])
    }
}

/// A running total shared by concurrent parts.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Int64 = 0
    @discardableResult
    func add(_ n: Int64) -> Int64 { lock.withLock { total += n; return total } }
    var value: Int64 { lock.withLock { total } }
}

/// Whether the server refuses a write with `If-None-Match: *` where an object exists — the guard against
/// replacing another program's object. Unknown until `check` tries it.
final class ConditionalWrites: @unchecked Sendable {
    enum State { case unknown, honoured, ignored, refused }
    private let lock = NSLock()
    private var current = State.unknown
    var state: State { lock.withLock { current } }
    func learn(_ s: State) { lock.withLock { current = s } }
    /// A new small file may be written without looking first.
    var proven: Bool { state == .honoured }
    /// Conditions are sent (unknown: tried, as AWS, MinIO, R2 and Ceph accept them).
    var send: Bool { state != .refused }
}

