import Foundation
import SiteSyncModel

/// Where this machine keeps things, from the environment: the catalog, the local settings file, the site id, and
/// the clock the engine reads.
public struct SiteSyncEnvironment: Sendable {
    /// The catalog: a file path or `sqlite:PATH` (the embedded default), or a database URL.
    public var catalogLocation: String
    public var localSettingsPath: String
    /// `SITESYNC_SITE_ID`: makes this process act as that site (a background service for `studio`).
    public var siteIDOverride: String?
    /// Where files moving between two remote sites are staged.
    public var stagingDirectory: String
    public var leaseDuration: TimeInterval
    /// How often a server looks for work queued by other processes.
    public var pollInterval: TimeInterval
    /// A transfer that reports no progress for this long is abandoned as stalled and tried again (a hung
    /// connection, a disk that stopped answering).
    public var stallTimeout: TimeInterval
    /// How often a server looks for copies due for their background scrub (sites with `scrub_every_days`).
    public var scrubInterval: TimeInterval
    /// How long a site's check may take (reachable, roots there, credentials accepted) before the site counts as
    /// unavailable: a server that accepts connections and never answers must not hold anything up for longer.
    public var siteCheckTimeout: TimeInterval
    public var clock: any WallClock

    public init(catalogLocation: String, localSettingsPath: String, siteIDOverride: String? = nil,
                stagingDirectory: String? = nil, leaseDuration: TimeInterval = 60, pollInterval: TimeInterval = 0.1,
                stallTimeout: TimeInterval = 300, scrubInterval: TimeInterval = 60, siteCheckTimeout: TimeInterval = 60,
                clock: any WallClock = SystemClock()) {
        self.catalogLocation = catalogLocation
        self.localSettingsPath = localSettingsPath
        self.siteIDOverride = siteIDOverride
        self.stagingDirectory = stagingDirectory ?? Self.defaultStaging(catalogLocation: catalogLocation)
        self.leaseDuration = leaseDuration
        self.pollInterval = pollInterval
        self.stallTimeout = stallTimeout
        self.scrubInterval = scrubInterval
        self.siteCheckTimeout = siteCheckTimeout
        self.clock = clock
    }

    /// Beside a catalog file; under the data folder for a catalog that is not a file.
    static func defaultStaging(catalogLocation: String) -> String {
        if let file = CatalogLocation.filePath(catalogLocation) {
            return URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("staging").path
        }
        return "\(dataHome(ProcessInfo.processInfo.environment))/sitesync/staging"
    }

    static func dataHome(_ env: [String: String]) -> String {
        let home = env["HOME"] ?? NSHomeDirectory()
        return env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.local/share"
    }

    /// Defaults follow the XDG base directories; each can be overridden by a variable or a flag.
    public static func fromProcess(catalog: String? = nil, localSettings: String? = nil) -> SiteSyncEnvironment {
        let env = ProcessInfo.processInfo.environment
        let home = env["HOME"] ?? NSHomeDirectory()
        let configHome = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        let location = catalog ?? env["SITESYNC_CATALOG"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(dataHome(env))/sitesync/catalog.sqlite"
        let localPath = localSettings ?? env["SITESYNC_LOCAL_SETTINGS"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(configHome)/sitesync/local.yaml"
        let lease = env["SITESYNC_LEASE_SECONDS"].flatMap(Double.init) ?? 60
        let stall = env["SITESYNC_STALL_SECONDS"].flatMap(Double.init) ?? 300
        return SiteSyncEnvironment(catalogLocation: CatalogLocation.absolute(location), localSettingsPath: absolute(localPath),
                                   siteIDOverride: env["SITESYNC_SITE_ID"].flatMap { $0.isEmpty ? nil : $0 },
                                   leaseDuration: max(1, lease), stallTimeout: max(0.5, stall))
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// How a catalog location reads: a plain path or `sqlite:PATH` is a file; `scheme://…` is a database URL.
public enum CatalogLocation {
    /// The file of a file catalog; nil for a URL.
    public static func filePath(_ location: String) -> String? {
        if location.hasPrefix("sqlite:") { return String(location.dropFirst("sqlite:".count)) }
        // A URL written wrong (`postgres:/…`, `user:pw@host/db`) is not a file to create, nor a name to echo.
        return location.contains("://") || SecretText.looksLikeMalformedURL(location) ? nil : location
    }

    /// A relative file path made absolute (a URL as it is).
    public static func absolute(_ location: String) -> String {
        guard let file = filePath(location) else { return location }
        let full = SiteSyncEnvironment.absolute(file)
        return location.hasPrefix("sqlite:") ? "sqlite:" + full : full
    }
}

extension CatalogLocation {
    /// The location as it may be shown: a password in a URL becomes `***`.
    public static func redacted(_ location: String) -> String {
        SecretText.redactingPassword(location)
    }
}
