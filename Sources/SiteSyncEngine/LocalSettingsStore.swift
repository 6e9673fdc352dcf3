import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SiteSyncModel
import SiteSyncProviders

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
        let settings = try LocalSettings(yaml: text, source: path)
        // Roots are used as they are: a relative one would resolve against whatever folder a command runs in.
        for (layer, roots) in [("default", settings.defaults.roots)] + settings.projects.map({ ("projects.\($0.key)", $0.value.roots) }) {
            for (name, root) in roots {
                guard let value = root.path(on: .current) else { continue }
                if !RootPath.isAbsolute(value, on: .current) {
                    throw SettingsError("\(path): \(layer).roots.\(name)", "'\(value)' is not an absolute path on this machine; write it like /home/anna/sitesync (or `sitesync local set --root \(name)=PATH`)")
                }
            }
        }
        return settings
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

    /// This machine's site id: `SITESYNC_SITE_ID`, else the stored one, else (no settings file yet) a new one that
    /// is stored. A settings file that exists but holds no id is an error, never a new id: a new id would orphan
    /// every copy this machine has.
    public func siteID(override: String?) throws -> String {
        if let override {
            try Self.validateSiteID(override, at: "SITESYNC_SITE_ID")
            return override
        }
        guard exists else {
            var settings = LocalSettings()
            let id = Self.newSiteID()
            settings.siteID = id
            try save(settings)
            return id
        }
        let settings = try load()
        guard let id = settings.siteID else {
            throw SettingsError(path, "holds no site_id (it is empty or was edited): this machine's copies are recorded under its old id; restore `site_id: ws-…` (another machine's `sitesync show` lists the ids), or delete the file to start as a new site")
        }
        try Self.validateSiteID(id, at: "\(path): site_id")
        return id
    }

    /// A site id names this machine's own site: never a built-in site.
    static func validateSiteID(_ id: String, at path: String) throws {
        try Names.validateSite(id, at: path)
        if id.lowercased() == Names.studio || id.lowercased() == Names.localAlias {
            throw SettingsError(path, "'\(id)' is a built-in site, not a site id for this machine; use an id like ws-anna-3f9a")
        }
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

extension LocalSettingsStore {
    /// `load()` on a blocking-I/O thread, with the file's modification time, so a server notices an edit.
    public func loadOffPool() async throws -> (settings: LocalSettings, modified: Date?) {
        try await BlockingIO.run { _ in (try load(), LocalFiles.modified(path)) }
    }
}
