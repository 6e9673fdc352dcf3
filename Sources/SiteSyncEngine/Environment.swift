import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SiteSyncModel

/// Where this machine keeps things, from the environment: the catalog, the local settings file, the site id.
public struct SiteSyncEnvironment: Sendable {
    public var catalogPath: String
    public var localSettingsPath: String
    /// `SITESYNC_SITE_ID`: makes this process act as that site (a background service for `studio`).
    public var siteIDOverride: String?
    /// Where files moving between two remote sites are staged.
    public var stagingDirectory: String
    public var leaseDuration: TimeInterval
    /// How often a server looks for work queued by other processes.
    public var pollInterval: TimeInterval

    public init(catalogPath: String, localSettingsPath: String, siteIDOverride: String? = nil,
                stagingDirectory: String? = nil, leaseDuration: TimeInterval = 60, pollInterval: TimeInterval = 0.1) {
        self.catalogPath = catalogPath
        self.localSettingsPath = localSettingsPath
        self.siteIDOverride = siteIDOverride
        self.stagingDirectory = stagingDirectory
            ?? (URL(fileURLWithPath: catalogPath).deletingLastPathComponent().appendingPathComponent("staging").path)
        self.leaseDuration = leaseDuration
        self.pollInterval = pollInterval
    }

    /// Defaults follow the XDG base directories; each can be overridden by a variable or a flag.
    public static func fromProcess(catalog: String? = nil, localSettings: String? = nil) -> SiteSyncEnvironment {
        let env = ProcessInfo.processInfo.environment
        let home = env["HOME"] ?? NSHomeDirectory()
        let dataHome = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.local/share"
        let configHome = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        let catalogPath = catalog ?? env["SITESYNC_CATALOG"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(dataHome)/sitesync/catalog.sqlite"
        let localPath = localSettings ?? env["SITESYNC_LOCAL_SETTINGS"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(configHome)/sitesync/local.yaml"
        let lease = env["SITESYNC_LEASE_SECONDS"].flatMap(Double.init) ?? 60
        return SiteSyncEnvironment(catalogPath: absolute(catalogPath), localSettingsPath: absolute(localPath),
                                   siteIDOverride: env["SITESYNC_SITE_ID"].flatMap { $0.isEmpty ? nil : $0 },
                                   leaseDuration: max(1, lease))
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// Reads and writes this machine's local settings file.
public struct LocalSettingsStore: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    public func load() throws -> LocalSettings {
        guard exists else { return LocalSettings() }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError(path, "cannot read the local settings file: \(error.localizedDescription)")
        }
        return try LocalSettings(yaml: text, source: path)
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a settings file.
    public func save(_ settings: LocalSettings) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        do {
            try Data(settings.yamlText().utf8).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else {
                throw SettingsError(path, "cannot save the local settings: \(String(cString: strerror(errno)))")
            }
        } catch let error as SettingsError {
            throw error
        } catch {
            throw SettingsError(path, "cannot save the local settings: \(error.localizedDescription)")
        }
    }

    /// This machine's site id: `SITESYNC_SITE_ID`, else the stored one, else a new one that is stored.
    public func siteID(override: String?) throws -> String {
        if let override {
            try Names.validateSite(override, at: "SITESYNC_SITE_ID")
            return override
        }
        var settings = try load()
        if let id = settings.siteID { return id }
        let id = Self.newSiteID()
        settings.siteID = id
        try save(settings)
        return id
    }

    /// `ws-<host>-<4 hex>`: readable in a queue view, unique across a studio.
    static func newSiteID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let clean = String(host.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" }
            .map(Character.init)).prefix(24)
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "ws-\(clean.isEmpty ? "host" : String(clean))-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
    }
}
