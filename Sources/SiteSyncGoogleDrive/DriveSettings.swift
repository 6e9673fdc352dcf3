import Foundation
import SiteSyncModel
import SiteSyncProviders

/// A `gdrive` site's settings.
public struct DriveSettings: Sendable {
    public var site: String
    public var credentialsFile: String
    /// Root name → folder path whose first part is the drive: `/My Drive/studio` or `/<shared drive>/studio`.
    public var roots: [String: String]
    public var apiBaseURL: String
    public var uploadBaseURL: String
    /// Overrides the key's `token_uri` (tests, proxies).
    public var tokenURL: String?
    /// Bytes per resumable-upload request: a multiple of 256 KiB (Google's rule).
    public var chunkSize: Int
    /// Requests per second this site may send (Drive allows about 12,000 a minute per user; files ~2/s).
    public var requestsPerSecond: Double
    /// Where resumable-upload session URLs are kept so an upload survives a crash.
    public var sessionDirectory: String
    public var bytesPerSecond: Int64?
    /// First wait after a rate-limit or 5xx answer (Google: about 1 s, then doubling, with jitter).
    public var retryBase: Double

    public static let chunkUnit = 256 * 1024

    /// The keys of a `gdrive` site.
    public static let schema = ProviderSchema(provider: GoogleDriveProvider.name, options: [
        OptionSpec("credentials_file", .path, required: true, help: "the service account's JSON key file"),
        OptionSpec("chunk_size", .size, default: "8M", help: "resumable-upload chunk, a multiple of 256K"),
        OptionSpec("requests_per_second", .number, default: "10", range: 0.01...10_000, help: "request budget for this site"),
        OptionSpec("session_dir", .path, help: "where upload sessions are kept (default ~/.cache/sitesync/gdrive-sessions)"),
        OptionSpec("api_base_url", .url, default: "https://www.googleapis.com", help: "Drive API address (tests, proxies)"),
        OptionSpec("upload_base_url", .url, help: "Drive upload address (default: api_base_url)"),
        OptionSpec("token_url", .url, help: "OAuth token address (default: the key's token_uri)"),
        OptionSpec("retry_base", .number, default: "1", range: 0...600, help: "seconds of the first wait after a rate limit"),
    ])

    public init(site config: SiteConfig, platform: Platform) throws {
        let text = config.optionText
        func fail(_ key: String, _ problem: String) -> ProviderError {
            ProviderError(.configuration, "sites.\(config.name).\(key): \(problem)")
        }
        site = config.name
        guard let credentials = text("credentials_file") else {
            throw fail("credentials_file", "a gdrive site needs `credentials_file`: the service account's JSON key")
        }
        credentialsFile = credentials
        roots = config.rootPaths(on: platform)
        for (name, root) in roots {
            let parts = root.split(separator: "/")
            guard root.hasPrefix("/"), !parts.isEmpty else {
                throw fail("roots.\(name)", "'\(root)' must start with the drive: /My Drive/… or /<shared drive name>/…")
            }
        }
        apiBaseURL = text("api_base_url").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://www.googleapis.com"
        uploadBaseURL = text("upload_base_url").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? apiBaseURL
        tokenURL = text("token_url")
        let chunk = try ByteSize.parse(config.options["chunk_size"], path: "sites.\(config.name).chunk_size") ?? Int64(32 * Self.chunkUnit)
        guard chunk > 0, chunk % Int64(Self.chunkUnit) == 0 else {
            throw fail("chunk_size", "must be a multiple of 256K (Google's rule for resumable uploads), e.g. 8M")
        }
        chunkSize = Int(chunk)
        requestsPerSecond = text("requests_per_second").flatMap(Double.init) ?? 10
        guard requestsPerSecond > 0 else { throw fail("requests_per_second", "must be more than 0") }
        let env = ProcessInfo.processInfo.environment
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(env["HOME"] ?? NSHomeDirectory())/.cache"
        sessionDirectory = text("session_dir") ?? "\(cache)/sitesync/gdrive-sessions"
        bytesPerSecond = config.bandwidthLimit
        retryBase = text("retry_base").flatMap(Double.init) ?? 1
    }
}
