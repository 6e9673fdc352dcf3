import SiteSyncModel

/// What a provider can do beyond the protocol's minimum. The engine chooses how to run a transfer from these,
/// never from a provider's name (like rclone's feature table).
public struct ProviderCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The site's paths are folders of this machine: the engine copies into and out of them directly.
    public static let localFolder = ProviderCapabilities(rawValue: 1 << 0)
    /// `download(_:continuing:progress:)` continues after the bytes an interrupted attempt kept.
    public static let resumableDownloads = ProviderCapabilities(rawValue: 1 << 1)
    /// The storage reports a content hash after an upload, and the provider checks it against the catalog's.
    public static let reportsContentHash = ProviderCapabilities(rawValue: 1 << 2)

    /// The provider's program declares what it can do when it starts (external providers); the other flags
    /// say what the engine may ask, and `site check` shows what the program declared.
    public static let declaredByProvider = ProviderCapabilities(rawValue: 1 << 3)
    /// `copy(_:to:expected:)` makes a copy of a file on the storage itself, without its bytes passing through
    /// this machine (S3 CopyObject): a file identical to one already there is produced from it.
    public static let serverSideCopy = ProviderCapabilities(rawValue: 1 << 4)

    /// Names, for documentation and `site list`.
    public var names: [String] {
        if contains(.declaredByProvider) { return ["as its program declares (see site check)"] }
        var out: [String] = []
        if contains(.localFolder) { out.append("local folder") }
        if contains(.resumableDownloads) { out.append("resumable downloads") }
        if contains(.reportsContentHash) { out.append("storage-side hash") }
        if contains(.serverSideCopy) { out.append("server-side copy") }
        return out
    }
}

/// Everything SiteSync knows about one provider: its settings schema, what it can do, how many transfers it
/// handles well, and how to make one for a site.
public struct ProviderDescription: Sendable {
    public typealias Factory = @Sendable (SiteConfig, Platform) throws -> any StorageProvider

    public var schema: ProviderSchema
    public var capabilities: ProviderCapabilities
    /// Transfers at once involving one site when its settings do not say (`concurrency`).
    public var defaultConcurrency: Int
    /// How many small files (at most `ProviderDescription.smallFileSize`) share one of those transfer slots: 1
    /// when each costs the site as much as a large one (a connection each), more when the cost of a small file
    /// is mostly waiting for a flush or a round trip that many in flight share.
    public var smallFilesPerSlot: Int
    /// One line for `--help` and the README.
    public var summary: String
    public var make: Factory

    public var name: String { schema.provider }

    /// The size up to which a file is small (see `smallFilesPerSlot`).
    public static let smallFileSize: Int64 = 1 << 20

    public init(schema: ProviderSchema, capabilities: ProviderCapabilities, defaultConcurrency: Int,
                smallFilesPerSlot: Int = 1, summary: String, make: @escaping Factory) {
        self.schema = schema
        self.capabilities = capabilities
        self.defaultConcurrency = defaultConcurrency
        self.smallFilesPerSlot = min(max(1, smallFilesPerSlot), 64)
        self.summary = summary
        self.make = make
    }
}

/// The providers this build has, by name (`local_drive`, `sftp`, …). Built once by the composition root.
public struct ProviderRegistry: Sendable {
    var descriptions: [String: ProviderDescription] = [:]

    public init(_ descriptions: [ProviderDescription] = []) {
        for d in descriptions { register(d) }
    }

    public mutating func register(_ description: ProviderDescription) {
        descriptions[description.name] = description
    }

    public var providerNames: [String] { descriptions.keys.sorted() }

    public var schemas: [ProviderSchema] { descriptions.values.map(\.schema) }

    public func description(of provider: String) -> ProviderDescription? { descriptions[provider] }

    func require(_ site: SiteConfig) throws -> ProviderDescription {
        guard let d = descriptions[site.provider] else {
            throw ProviderError(.configuration,
                "site '\(site.name)' uses provider '\(site.provider)', which this build does not have (available: \(providerNames.joined(separator: ", ")))")
        }
        return d
    }

    public func make(_ site: SiteConfig, platform: Platform = .current) throws -> any StorageProvider {
        try require(site).make(site, platform)
    }

    /// What the site's provider can do; none for a provider this build lacks (it cannot be made either).
    public func capabilities(of site: SiteConfig) -> ProviderCapabilities {
        descriptions[site.provider]?.capabilities ?? []
    }

    /// Transfers at once involving the site: its `concurrency` setting, else the provider's default.
    public func concurrency(of site: SiteConfig) -> Int {
        site.concurrency ?? descriptions[site.provider]?.defaultConcurrency ?? 2
    }

    /// Small files that share one transfer slot of the site (see `ProviderDescription.smallFilesPerSlot`). A site
    /// whose settings give `concurrency` gets exactly that many transfers at once, whatever their sizes: whoever
    /// set it (a slow NAS, a vendor's server) meant it.
    public func smallFilesPerSlot(of site: SiteConfig) -> Int {
        site.concurrency == nil ? descriptions[site.provider]?.smallFilesPerSlot ?? 1 : 1
    }

    /// Keys whose values are never shown, for the site's provider (and the common keys).
    public func secretKeys(of provider: String) -> Set<String> {
        descriptions[provider]?.schema.secretKeys ?? []
    }

    /// Every secret key of every provider: for documents where a key's provider is not at hand.
    public var allSecretKeys: Set<String> {
        descriptions.values.reduce(into: Set<String>()) { $0.formUnion($1.schema.secretKeys) }
    }

    /// A studio settings checker that knows every provider of this build.
    public var validator: SettingsValidator { SettingsValidator(schemas: schemas) }
}
