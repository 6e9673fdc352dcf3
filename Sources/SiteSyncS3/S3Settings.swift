import Foundation
import SiteSyncModel
import SiteSyncProviders

/// An `s3` site's settings: where the bucket is, how to sign, how to move the bytes.
public struct S3Settings: Sendable {
    public var site: String
    public var bucket: String
    public var region: String
    /// `scheme://host[:port]`, without a path: AWS's regional endpoint unless the site names another.
    public var endpoint: String
    /// Addressing the bucket in the path (`host/bucket/key`, what MinIO, SeaweedFS and Ceph expect) rather than in
    /// the host name (`bucket.host/key`, AWS's default).
    public var pathStyle: Bool
    /// Root name → key prefix, without slashes at either end (`/studio` → `studio`; `/` → the bucket's top).
    public var roots: [String: String]
    public var credentials: S3CredentialSource
    public var storageClass: String?
    /// Bytes per part of a multipart upload, and per range of a parallel download; files up to this size go in
    /// one request.
    public var partSize: Int
    /// Parts (or ranges) of one file in flight at once.
    public var partConcurrency: Int
    public var requestsPerSecond: Double?
    /// Where multipart upload ids are kept so an upload cut by a crash continues with the parts S3 has.
    public var sessionDirectory: String
    public var bytesPerSecond: Int64?
    /// Seconds of the first wait after a SlowDown, 429 or 5xx answer; doubling, with jitter.
    public var retryBase: Double

    public static let minimumPartSize = 5 << 20
    public static let maximumParts = 10_000

    /// The keys of an `s3` site.
    public static let schema = ProviderSchema(provider: S3Provider.name, options: [
        OptionSpec("bucket", .text, required: true, help: "the bucket's name"),
        OptionSpec("region", .text, default: "us-east-1", help: "the bucket's region (for signing)"),
        OptionSpec("endpoint", .url, help: "the S3 server for non-AWS storage (MinIO, R2, B2, Wasabi, Ceph), e.g. https://minio.studio.lan:9000"),
        OptionSpec("path_style", .boolean, help: "bucket in the path instead of the host name (default: true when endpoint is given)"),
        OptionSpec("access_key_id", .text, help: "the access key id (with secret_access_key; else profile or the AWS_* environment)"),
        OptionSpec("secret_access_key", .text, secret: true, help: "the secret access key"),
        OptionSpec("session_token", .text, secret: true, help: "a temporary session token (with temporary keys)"),
        OptionSpec("profile", .text, help: "a profile of ~/.aws/credentials (or AWS_SHARED_CREDENTIALS_FILE)"),
        OptionSpec("storage_class", .text, help: "STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, … (default: the bucket's)"),
        OptionSpec("part_size", .size, default: "16M", range: Double(minimumPartSize)...Double(Int64(5) << 30), help: "multipart part and download range size, at least 5M"),
        OptionSpec("part_concurrency", .integer, default: "4", range: 1...64, help: "parts or ranges of one file in flight"),
        OptionSpec("requests_per_second", .number, range: 0.01...100_000, help: "request budget for this site (default: no limit)"),
        OptionSpec("session_dir", .path, help: "where multipart uploads are remembered (default ~/.cache/sitesync/s3-sessions)"),
        OptionSpec("retry_base", .number, default: "0.5", range: 0...600, help: "seconds of the first wait after SlowDown or 5xx"),
    ], rules: { rules($0) })

    /// AWS's storage classes (other storage takes its own names when an endpoint is given).
    static let awsStorageClasses: Set<String> = ["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                                                 "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"]

    /// What an `s3` site's settings must hold beyond each key's type: checked at import and when a provider is
    /// made. One line per problem, starting with the key.
    public static func rules(_ options: [String: ConfigValue]) -> [String] {
        func text(_ key: String) -> String? {
            guard let v = options[key], v != .null, let s = v.stringValue, !s.isEmpty else { return nil }
            return s
        }
        var problems: [String] = []
        let endpoint = text("endpoint")
        if let endpoint {
            if let url = URL(string: endpoint) {
                if url.user != nil || url.password != nil {
                    problems.append("endpoint: '\(SecretText.redactingPassword(endpoint))' holds a user or password; give the server alone and the keys in access_key_id and secret_access_key")
                } else if !(url.path.isEmpty || url.path == "/") {
                    problems.append("endpoint: '\(endpoint)' has a path; give the server alone (the bucket goes in `bucket`, folders in `roots`)")
                } else if url.query != nil || url.fragment != nil {
                    problems.append("endpoint: '\(endpoint)' has a query; give the server alone, like https://minio.studio.lan:9000")
                } else if url.host?.isEmpty ?? true {
                    problems.append("endpoint: '\(endpoint)' names no server; write it like https://minio.studio.lan:9000")
                } else if options["path_style"]?.booleanValue == false, let host = url.host,
                          host == "localhost" || host.contains(":") || host.split(separator: ".").allSatisfy({ Int($0) != nil }) {
                    // Virtual-hosted addressing asks for BUCKET.HOST: a name an address cannot have.
                    problems.append("path_style: false puts the bucket in the host name (BUCKET.\(host)), which '\(host)' cannot take; remove path_style (true is the default with an endpoint) or give the endpoint's DNS name")
                }
            } else {
                problems.append("endpoint: '\(endpoint)' is not an address like https://s3.example.com:9000")
            }
        }
        if let bucket = text("bucket") {
            let awsRule = bucket.count >= 3 && bucket.count <= 63 && bucket.first.map { $0.isLowercase || $0.isNumber } == true
                && bucket.last.map { $0.isLowercase || $0.isNumber } == true
                && bucket.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
            if bucket.contains("/") || bucket.contains(" ") {
                problems.append("bucket: '\(bucket)' is not a bucket name; give the name alone (a folder inside it goes in `roots`)")
            } else if endpoint == nil && !awsRule {
                problems.append("bucket: '\(bucket)' is not an S3 bucket name (3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)")
            } else if !(3...255).contains(bucket.count) {
                problems.append("bucket: '\(bucket)' is too short or too long for a bucket name")
            }
        }
        let keyID = text("access_key_id"), secret = text("secret_access_key")
        if keyID != nil && secret == nil {
            problems.append("access_key_id is given without secret_access_key; give both, or neither (then profile or the AWS_* environment)")
        } else if keyID == nil && secret != nil {
            problems.append("secret_access_key is given without access_key_id; give both, or neither (then profile or the AWS_* environment)")
        }
        if text("session_token") != nil && keyID == nil {
            problems.append("session_token goes with access_key_id and secret_access_key (temporary keys); give all three, or put the token in the profile")
        }
        if keyID != nil && text("profile") != nil {
            problems.append("profile and access_key_id are both given; keep one (site keys would win and the profile would be ignored)")
        }
        if let dir = text("session_dir"), !dir.hasPrefix("/") {
            problems.append("session_dir: '\(dir)' must be an absolute path (no ~, no relative path): each server writes it from its own folder")
        }
        if let storageClass = text("storage_class"), endpoint == nil, !awsStorageClasses.contains(storageClass) {
            problems.append("storage_class: '\(storageClass)' is not an S3 storage class (\(awsStorageClasses.sorted().joined(separator: ", ")))")
        }
        for (name, root) in options["roots"]?.mapValue ?? [:] {
            for path in [root.stringValue].compactMap({ $0 }) + (root.mapValue?.values.compactMap(\.stringValue) ?? [])
            where path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                problems.append("roots.\(name): '\(path)' has a '.' or '..' part; S3 keys take them literally, so write the prefix plainly")
            }
        }
        return problems
    }

    public init(site config: SiteConfig, platform: Platform, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let text = config.optionText
        func fail(_ key: String, _ problem: String) -> ProviderError {
            ProviderError(.configuration, "sites.\(config.name).\(key): \(problem)")
        }
        site = config.name
        // The rules import checks (endpoint form, key pairs, names): a provider made from unchecked settings too.
        if let problem = Self.rules(config.options).first {
            throw ProviderError(.configuration, "sites.\(config.name).\(problem)")
        }
        guard let bucket = text("bucket") else { throw fail("bucket", "an s3 site needs `bucket`: the bucket's name") }
        self.bucket = bucket
        region = text("region") ?? "us-east-1"
        if let endpoint = text("endpoint") {
            guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()),
                  let host = url.host, !host.isEmpty else {
                throw fail("endpoint", "'\(endpoint)' is not an address like https://s3.example.com:9000")
            }
            self.endpoint = "\(scheme.lowercased())://\(host)\(url.port.map { ":\($0)" } ?? "")"
        } else {
            self.endpoint = "https://s3.\(region).amazonaws.com"
        }
        pathStyle = try config.options["path_style"].map { value -> Bool in
            guard let b = value.booleanValue else { throw fail("path_style", "expected true or false") }
            return b
        } ?? (text("endpoint") != nil)
        var roots: [String: String] = [:]
        for (name, root) in config.rootPaths(on: platform) {
            guard root.hasPrefix("/") else {
                throw fail("roots.\(name)", "'\(root)' must start with / : a key prefix in the bucket such as /studio (or / for the bucket's top)")
            }
            roots[name] = root.split(separator: "/").joined(separator: "/")
        }
        self.roots = roots
        credentials = try S3CredentialSource(site: config, environment: environment)
        storageClass = text("storage_class")
        let part = try ByteSize.parse(config.options["part_size"], path: "sites.\(config.name).part_size") ?? Int64(16 << 20)
        guard part >= Int64(Self.minimumPartSize), part <= Int64(5) << 30 else {
            throw fail("part_size", "must be between 5M (S3's smallest part) and 5G (its largest)")
        }
        partSize = Int(part)
        partConcurrency = config.options["part_concurrency"]?.integerValue ?? 4
        requestsPerSecond = config.options["requests_per_second"]?.numberValue
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(environment["HOME"] ?? NSHomeDirectory())/.cache"
        sessionDirectory = text("session_dir") ?? "\(cache)/sitesync/s3-sessions"
        bytesPerSecond = config.bandwidthLimit
        retryBase = config.options["retry_base"]?.numberValue ?? 0.5
    }

    /// The object key of a site path: `/studio/robots/a.ma` → `studio/robots/a.ma`.
    public static func key(of path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }
}
