import SiteSyncModel
import SiteSyncProviders

/// The lines SiteSync and an external provider exchange (protocol 1, `docs/external-providers.md`): one JSON
/// object per line, a request from SiteSync, then any number of progress lines and exactly one answer, carrying
/// the request's `id`.
enum ExternalProtocol {
    static let version = 1
}

/// A request. Only the fields an operation uses are sent (the encoder leaves out nil ones).
struct ExternalRequest: Encodable, Sendable {
    var id: Int
    var op: String
    /// `hello`: the protocol SiteSync speaks, the site and its `options`.
    var `protocol`: Int?
    var site: String?
    var options: [String: ConfigValue]?
    /// The storage path the operation is about (`stat`, `put`, `get`, `hash`, `delete`, `mkdir`, `rmdir`).
    var path: String?
    /// A local file: what `put` sends, where `get` writes.
    var local: String?
    /// `put`: the size and SHA-256 of what is sent (the provider may hand them to the storage).
    var size: Int64?
    var sha256: String?
    /// `get`: bytes of `local` already kept; write from here on (only with `resumable_downloads`).
    var offset: Int64?
    /// `move`: from one storage path to another that must not exist.
    var from: String?
    var to: String?
    /// `put`, `get`: the site's `bandwidth_limit`, for the provider to keep to.
    var bytesPerSecond: Int64?

    enum CodingKeys: String, CodingKey {
        case id, op, `protocol`, site, options, path, local, size, sha256, offset, from, to
        case bytesPerSecond = "bytes_per_second"
    }

    init(id: Int, op: String) {
        self.id = id
        self.op = op
    }
}

/// What a provider can do, from its `hello` answer.
public struct ExternalCapabilities: Decodable, Sendable, Equatable {
    /// The hash the storage itself reports for a file (`sha256`, `sha1` or `md5`), after `put` and by `hash`;
    /// nil when it has none.
    public var hash: String?
    /// `get` continues at `offset` after the bytes an interrupted download kept.
    public var resumableDownloads: Bool
    /// The storage has real folders: SiteSync creates the missing ones below a root with `mkdir` and removes
    /// emptied ones with `rmdir`. False for flat key spaces (object stores).
    public var folders: Bool

    enum CodingKeys: String, CodingKey {
        case hash
        case resumableDownloads = "resumable_downloads"
        case folders
    }

    public init(hash: String? = nil, resumableDownloads: Bool = false, folders: Bool = true) {
        self.hash = hash
        self.resumableDownloads = resumableDownloads
        self.folders = folders
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hash = try c.decodeIfPresent(String.self, forKey: .hash)?.lowercased()
        resumableDownloads = try c.decodeIfPresent(Bool.self, forKey: .resumableDownloads) ?? false
        folders = try c.decodeIfPresent(Bool.self, forKey: .folders) ?? true
    }

    /// Hashes SiteSync can compute to compare with the storage's.
    static let knownHashes: Set<String> = ["sha256", "sha1", "md5"]
}

/// The `hello` answer.
struct ExternalHello: Sendable {
    var `protocol`: Int
    var name: String?
    var version: String?
    var capabilities: ExternalCapabilities
    /// Keys of `options` whose values must never be shown: SiteSync hides them in its log and errors.
    var secretOptions: [String]

    /// How `site check` names the provider.
    var shownName: String { [name ?? "(no name)", version].compactMap { $0 }.joined(separator: " ") }
}

/// What an answer's `result` may hold; each operation reads its own fields.
struct ExternalResult: Decodable, Sendable {
    /// `hello`: the protocol the provider speaks, its name and version, what it can do, its secret options.
    var `protocol`: Int?
    var name: String?
    var version: String?
    var capabilities: ExternalCapabilities?
    var secretOptions: [String]?
    /// `stat`: `file` or `folder`.
    var type: String?
    var size: Int64?
    /// `stat`: seconds since 1970.
    var modified: Double?
    /// `put`, `hash`: the storage's hash of the file, lower-case hex, of the kind the provider declared.
    var hash: String?
    /// `check`: what the provider found, one fact per line.
    var lines: [String]?

    enum CodingKeys: String, CodingKey {
        case `protocol`, name, version, capabilities, type, size, modified, hash, lines
        case secretOptions = "secret_options"
    }

    var hello: ExternalHello? {
        guard let p = `protocol` else { return nil }
        return ExternalHello(protocol: p, name: name, version: version, capabilities: capabilities ?? ExternalCapabilities(),
                             secretOptions: secretOptions ?? [])
    }
}

/// An error answer: a kind from the list the engine knows, and one line for a person.
struct ExternalErrorBody: Decodable, Sendable {
    var kind: String
    var message: String?
}

/// One line from the provider, before it is matched to a request.
struct ExternalLine: Decodable, Sendable {
    var id: Int?
    var progress: Int64?
    var error: ExternalErrorBody?
    var result: ExternalResult?
    /// Whether the line had a `result` key at all (`"result": null` is `stat`'s "nothing there").
    var hasResult: Bool

    enum CodingKeys: String, CodingKey { case id, progress, error, result }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int.self, forKey: .id)
        progress = try c.decodeIfPresent(Int64.self, forKey: .progress)
        error = try c.decodeIfPresent(ExternalErrorBody.self, forKey: .error)
        hasResult = c.contains(.result)
        result = try c.decodeIfPresent(ExternalResult.self, forKey: .result)
    }
}

extension ExternalErrorBody {
    /// The provider's error as the engine's: the same kinds drive the same retries as a built-in provider's.
    /// An unknown kind is transient (a try is counted), and says which kinds exist.
    func providerError(site: String, op: String, redact: (String) -> String) -> ProviderError {
        let text = redact(message ?? "no message")
        // `op` is "verb path"; a message that names the path already (as the protocol asks) is not prefixed twice.
        var op = op
        if let space = op.firstIndex(of: " "), text.contains(op[op.index(after: space)...]) { op = String(op[..<space]) }
        let kind: ProviderError.Kind
        switch self.kind {
        case "not_found": kind = .notFound
        case "configuration": kind = .configuration
        case "unavailable": kind = .unavailable
        case "integrity": kind = .integrity
        case "quota": kind = .quota
        case "transient": kind = .transient
        case "exists", "not_empty": kind = .transient
        case "source_missing": kind = .sourceMissing
        default:
            return ProviderError(.transient, "site '\(site)': the provider answered \(op) with error kind '\(self.kind)', which protocol \(ExternalProtocol.version) does not have (not_found, configuration, unavailable, integrity, quota, transient, exists, not_empty, source_missing): \(text)")
        }
        return ProviderError(kind, "site '\(site)': \(op): \(text)")
    }
}
