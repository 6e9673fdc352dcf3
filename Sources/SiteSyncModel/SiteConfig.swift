/// One site as a project sees it after every settings layer has been applied.
public struct SiteConfig: Sendable, Hashable {
    public var name: String
    public var provider: String
    public var roots: Roots
    public var alternativeSites: [String]
    public var enabled: Bool
    /// Transfers running at once that involve this site; nil → the provider's default.
    public var concurrency: Int?
    /// Bytes per second for one transfer to or from this site; nil → unlimited.
    public var bandwidthLimit: Int64?
    /// Among fallback sources (the usual source's copy is missing or corrupt), higher is read first.
    public var sourcePreference: Int
    /// Every copy is read back at least this often by the servers using the site; nil → no background scrub.
    public var scrubEveryDays: Double?
    public var scrubBandwidthLimit: Int64?
    /// Every key of the site's settings, provider-specific ones included (`host`, `key_file`, …).
    public var options: [String: ConfigValue]

    /// The provider of the built-in sites: `studio` (each project's roots) and this machine's own site.
    public static let localDrive = "local_drive"

    /// Keys every site has, whatever its provider.
    public static let commonOptions: [OptionSpec] = [
        OptionSpec("provider", .text, required: true, help: "how the site is reached: local_drive, sftp, gdrive, …"),
        OptionSpec("roots", .roots, help: "root name → path on the site, or per platform {linux: …, windows: …, darwin: …}"),
        OptionSpec("alternative_sites", .names, help: "sites that reach the same files (no transfer between them)"),
        OptionSpec("enabled", .boolean, default: "true", help: "false keeps the site out of every transfer"),
        OptionSpec("concurrency", .integer, range: 1...256, help: "transfers at once involving this site (default: the provider's)"),
        OptionSpec("bandwidth_limit", .size, help: "bytes per second for one transfer, e.g. 50M"),
        OptionSpec("source_preference", .integer, default: "0", range: -1000...1000,
                   help: "when a file's usual source is missing or corrupt, sites with higher values are read first"),
        OptionSpec("scrub_every_days", .number, range: 0.000001...36_500,
                   help: "servers using the site read every copy back at least this often (a slow background verify); off when unset"),
        OptionSpec("scrub_bandwidth_limit", .size, help: "bytes per second the background verify may read, e.g. 20M"),
    ]

    public init(name: String, provider: String, roots: Roots, alternativeSites: [String] = [], enabled: Bool = true,
                concurrency: Int? = nil, bandwidthLimit: Int64? = nil, sourcePreference: Int = 0,
                options: [String: ConfigValue] = [:]) {
        self.name = name
        self.provider = provider
        self.roots = roots
        self.alternativeSites = alternativeSites
        self.enabled = enabled
        self.concurrency = concurrency
        self.bandwidthLimit = bandwidthLimit
        self.sourcePreference = sourcePreference
        self.options = options
        self.scrubEveryDays = options["scrub_every_days"]?.numberValue
        self.scrubBandwidthLimit = (try? ByteSize.parse(options["scrub_bandwidth_limit"], path: "")) ?? nil
    }

    static func parse(name: String, _ value: ConfigValue, path: String) throws -> SiteConfig {
        let r = try ConfigReader(value, path: path)
        guard let provider = try r.string("provider"), !provider.isEmpty else {
            throw SettingsError(path, "site '\(name)' has no provider; add `provider: local_drive` (or sftp, gdrive, …)")
        }
        let concurrency = try r.int("concurrency")
        if let c = concurrency, c < 1 || c > 256 {
            throw SettingsError(r.key("concurrency"), "must be between 1 and 256")
        }
        let alternates = try r.stringList("alternative_sites") ?? []
        for (i, alt) in alternates.enumerated() { try Names.validateSite(alt, at: "\(path).alternative_sites[\(i)]") }
        return SiteConfig(
            name: name, provider: provider,
            roots: try RootsParser.parse(r.map["roots"], path: r.key("roots")),
            alternativeSites: alternates,
            enabled: try r.bool("enabled") ?? true,
            concurrency: concurrency,
            bandwidthLimit: try ByteSize.parse(r.map["bandwidth_limit"], path: r.key("bandwidth_limit")),
            sourcePreference: try r.int("source_preference") ?? 0,
            options: r.map)
    }

    /// A provider key's value as text; nil when absent, null or empty.
    public func optionText(_ key: String) -> String? {
        guard let v = options[key], v != .null, let s = v.stringValue, !s.isEmpty else { return nil }
        return s
    }

    /// The roots on one platform, as plain paths.
    public func rootPaths(on platform: Platform) -> [String: String] {
        roots.compactMapValues { $0.path(on: platform) }
    }

    /// The settings of this site as they can be shown to a person: the values of `secretKeys` replaced.
    public func shownOptions(secretKeys: Set<String>) -> ConfigValue {
        var m = options
        m["provider"] = .string(provider)
        m["roots"] = RootsParser.configValue(roots)
        m["alternative_sites"] = .list(alternativeSites.map(ConfigValue.string))
        m["enabled"] = .bool(enabled)
        return ConfigValue.map(m).redacted(secretKeys: secretKeys)
    }
}

/// "10M", "512K", "1G" or a plain number of bytes.
public enum ByteSize {
    public static func parse(_ value: ConfigValue?, path: String) throws -> Int64? {
        guard let value, value != .null else { return nil }
        if case .int(let i) = value {
            guard i > 0 else { throw SettingsError(path, "'\(i)' is not a size like 10M (more than 0)") }
            return Int64(i)
        }
        guard let text = value.stringValue?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            throw SettingsError(path, "expected a size like 10M")
        }
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text)
        var factor: Int64 = 1
        if let last = digits.last?.uppercased().first, let f = units[last] {
            factor = f
            digits = digits.dropLast()
        }
        guard let n = Double(digits), n > 0, n.isFinite else { throw SettingsError(path, "'\(text)' is not a size like 10M") }
        let bytes = n * Double(factor)
        guard bytes < Double(1 << 60) else { throw SettingsError(path, "'\(text)' is too large (at most 1024P, i.e. 2^60 bytes)") }
        return Int64(bytes)
    }
}

import Foundation
