import Crypto
import Foundation
import Synchronization
@testable import SiteSyncS3
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// One SeaweedFS and one moto for the S3 tests of this process, started on first use and stopped at exit; each
/// test works in a bucket of its own.
enum SharedS3 {
    static func server(_ kind: S3Server.Kind) async throws -> S3Server {
        try await S3Server.shared(kind)
    }

    /// An `s3` site on `server`, in `bucket`, with root `work` at `/root`.
    static func site(_ server: S3Server, bucket: String, name: String = "cloud", root: String = "/root",
                     options extra: [String: ConfigValue] = [:]) -> SiteConfig {
        var options: [String: ConfigValue] = [
            "provider": .string("s3"), "bucket": .string(bucket), "endpoint": .string(server.endpoint),
            "access_key_id": .string(server.accessKey), "secret_access_key": .string(server.secretKey),
            "retry_base": .double(0.05), "session_dir": .string(FileManager.default.temporaryDirectory.path + "/s3-sessions-test"),
        ]
        options.merge(extra) { $1 }
        return SiteConfig(name: name, provider: "s3", roots: ["work": RootPath(root)], options: options)
    }

    /// The bucket the tests of this process share on `server` (SeaweedFS gives every bucket volumes of its own,
    /// so a bucket per test would exhaust them); each test works under a prefix of its own.
    static let buckets = Mutex<[Int: Task<String, any Error>]>([:])

    static func bucket(_ server: S3Server) async throws -> String {
        let task = buckets.withLock { all in
            if let existing = all[server.port] { return existing }
            let created = Task<String, any Error> {
                let name = "sitesync-tests"
                let client = S3Client(settings: try S3Settings(site: site(server, bucket: name), platform: .current, environment: [:]))
                _ = try await client.send("create bucket \(name)", .PUT, key: nil)
                return name
            }
            all[server.port] = created
            return created
        }
        return try await task.value
    }

    /// Multipart uploads S3 still keeps under `prefix` (none once every upload finished or was aborted).
    static func openUploads(_ server: S3Server, bucket: String, prefix: String) async throws -> Int {
        let client = S3Client(settings: try S3Settings(site: site(server, bucket: bucket), platform: .current, environment: [:]))
        let r = try await client.send("list uploads", .GET, key: nil, query: [("uploads", ""), ("prefix", prefix)])
        return String(decoding: r.body, as: UTF8.self).components(separatedBy: "<UploadId>").count - 1
    }

    /// Puts bytes under a key as another program would (no SiteSync metadata, no checksum).
    static func putForeign(_ server: S3Server, bucket: String, key: String, _ data: Data) async throws {
        let client = S3Client(settings: try S3Settings(site: site(server, bucket: bucket), platform: .current, environment: [:]))
        _ = try await client.send("put \(key)", .PUT, key: key, payload: S3Payload(bytes: .init(data: data), sha256: LocalFiles.hex(SHA256.hash(data: data))))
    }
}

