import Foundation
import Logging
import SiteSyncCatalog
import SiteSyncCatalogSQLite
import SiteSyncLocalDrive
import SiteSyncModel
import SiteSyncProviders
import SiteSyncSFTP
import SiteSyncGoogleDrive

/// A user-facing problem: one line that names it and says what to do.
public struct SiteSyncError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The engine's front door. The CLI and (later) the HTTP API call these methods and nothing below them.
public final class SiteSync: Sendable {
    public let catalog: any Catalog
    public let environment: SiteSyncEnvironment
    public let localStore: LocalSettingsStore
    public let siteID: String
    public let registry: ProviderRegistry
    let logger: Logger

    public init(catalog: any Catalog, environment: SiteSyncEnvironment, registry: ProviderRegistry = .standard,
                logger: Logger = Logger(label: "sitesync")) throws {
        self.catalog = catalog
        self.environment = environment
        self.localStore = LocalSettingsStore(path: environment.localSettingsPath)
        self.siteID = try localStore.siteID(override: environment.siteIDOverride)
        self.registry = registry
        self.logger = logger
    }

    /// Opens the embedded SQLite catalog named by the environment.
    public static func open(_ environment: SiteSyncEnvironment, create: Bool = false,
                            logger: Logger = Logger(label: "sitesync")) throws -> SiteSync {
        if create {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: environment.catalogPath).deletingLastPathComponent().path,
                withIntermediateDirectories: true)
        }
        let catalog = try SQLiteCatalog(path: environment.catalogPath, create: create)
        return try SiteSync(catalog: catalog, environment: environment, logger: logger)
    }

    // MARK: Settings

    public func studioSettings() async throws -> StudioSettings {
        guard let yaml = try await catalog.studioSettingsYAML() else { return StudioSettings() }
        return try StudioSettings(yaml: yaml, source: "studio settings in the catalog")
    }

    public func context() async throws -> SettingsContext {
        SettingsContext(studio: try await studioSettings(), local: try localStore.load(), siteID: siteID)
    }

    public func project(_ name: String) async throws -> EffectiveProject {
        try await context().project(name)
    }

    /// Replaces the studio settings with a file's; every project it names is registered.
    /// Returns warnings (projects with published data that the file no longer configures).
    @discardableResult
    public func importSettings(yaml: String, source: String) async throws -> [String] {
        let settings = try StudioSettings(yaml: yaml, source: source)
        // Check that every project resolves with this machine's local settings before storing anything.
        let ctx = SettingsContext(studio: settings, local: try localStore.load(), siteID: siteID)
        for name in settings.projectNames { _ = try ctx.project(name) }
        try await catalog.setStudioSettingsYAML(settings.document.yamlText())
        let now = Date()
        for name in settings.projectNames { try await catalog.addProject(name, now: now) }
        let configured = Set(settings.projectNames)
        return try await catalog.projects().map(\.name).filter { !configured.contains($0) }.map {
            "project '\($0)' is in the catalog but not in \(source); it now uses the `default` project settings"
        }
    }

    public func exportSettings() async throws -> String {
        try await studioSettings().document.yamlText()
    }

    /// The effective settings, secrets hidden: one project, or the studio document and every project.
    public func showSettings(project: String?) async throws -> String {
        let ctx = try await context()
        var out: [String: ConfigValue] = ["site_id": .string(siteID)]
        var names: [String]
        if let project { names = [project] } else { names = try await catalog.projects().map(\.name) }
        var projects: [String: ConfigValue] = [:]
        for name in names {
            let p = try ctx.project(name)
            projects[name] = .map([
                "enabled": .bool(p.enabled),
                "roots": .map(p.roots.mapValues { .string($0.path(on: p.platform) ?? "") }),
                "sitesync": .map([
                    "retry_count": .int(p.sync.retryCount),
                    "loop_delay": .double(p.sync.loopDelay),
                    "active_site": .string(p.sync.activeSite),
                    "remote_site": .string(p.sync.remoteSite),
                    "always_accessible_on": .list(p.sync.alwaysAccessibleOn.map(ConfigValue.string)),
                    "publish_template": .string(p.sync.publishTemplate.text),
                    "retry_backoff": .double(p.sync.retryBackoff),
                    "retry_backoff_max": .double(p.sync.retryBackoffMax),
                ]),
                "sites": .map(p.sites.mapValues { $0.redactedOptions }),
            ])
        }
        out["enabled"] = .bool(ctx.studio.enabled)
        out["projects"] = .map(projects)
        return ConfigValue.map(out).yamlText()
    }

    // MARK: Local settings

    public func localSettings() throws -> LocalSettings { try localStore.load() }

    /// Changes this machine's settings; a new local root folder is created.
    public func setLocal(project: String?, roots: [String: String], activeSite: String?, remoteSite: String?) throws -> [String] {
        var settings = try localStore.load()
        settings.siteID = settings.siteID ?? siteID
        var layer = project.map { settings.projects[$0] ?? LocalSettings.Layer() } ?? settings.defaults
        var notes: [String] = []
        for (name, path) in roots {
            guard Names.isValid(name) else { throw SiteSyncError("'\(name)' is not a valid root name") }
            guard path.hasPrefix("/") || path.dropFirst().hasPrefix(":") else {
                throw SiteSyncError("root \(name)=\(path): give an absolute path")
            }
            layer.roots[name] = RootPath(path)
            if !FileManager.default.fileExists(atPath: path) {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                notes.append("created \(path)")
            }
        }
        if let a = activeSite { try Names.validateSite(a, at: "--active-site"); layer.activeSite = a }
        if let r = remoteSite { try Names.validateSite(r, at: "--remote-site"); layer.remoteSite = r }
        if let project { settings.projects[project] = layer } else { settings.defaults = layer }
        try localStore.save(settings)
        return notes
    }

    // MARK: Projects

    public func addProject(_ name: String, roots: [String: String]) async throws {
        try Names.validateProject(name)
        if try await catalog.projects().contains(where: { $0.name == name }) {
            throw SiteSyncError("project '\(name)' already exists; change its roots with `sitesync settings import`")
        }
        var studio = try await studioSettings()
        for (root, path) in roots {
            guard Names.isValid(root) else { throw SiteSyncError("'\(root)' is not a valid root name") }
            studio.set(["projects", name, "roots", root], to: .string(path))
        }
        if roots.isEmpty && studio.projectDefinitions[name] == nil {
            studio.set(["projects", name], to: .map([:]))
        }
        try studio.validate()
        try await catalog.setStudioSettingsYAML(studio.document.yamlText())
        try await catalog.addProject(name, now: Date())
    }

    public struct ProjectInfo: Sendable {
        public var name: String
        public var enabled: Bool
        public var paused: Bool
        public var activeSite: String
        public var remoteSite: String
    }

    public func listProjects() async throws -> [ProjectInfo] {
        let ctx = try await context()
        return try await catalog.projects().map { record in
            let p = try ctx.project(record.name)
            return ProjectInfo(name: record.name, enabled: p.enabled, paused: record.paused,
                               activeSite: p.sync.activeSite, remoteSite: p.sync.remoteSite)
        }
    }

    public func setProjectEnabled(_ name: String, _ enabled: Bool) async throws {
        guard try await catalog.projects().contains(where: { $0.name == name }) else {
            throw CatalogError.unknownProject(name)
        }
        var studio = try await studioSettings()
        studio.set(["projects", name, "sitesync", "enabled"], to: .bool(enabled))
        try await catalog.setStudioSettingsYAML(studio.document.yamlText())
    }

    // MARK: Sites

    public struct SiteInfo: Sendable {
        public var config: SiteConfig
        public var roles: [String]
        public var rootPaths: [String: String]
        public var alternates: [String]
    }

    public func listSites(project: String?) async throws -> [SiteInfo] {
        let name = try await defaultProjectName(project)
        let p = try await self.project(name)
        return p.sites.values.sorted { $0.name < $1.name }.map { site in
            var roles: [String] = []
            if site.name == siteID { roles.append("this machine") }
            if site.name == p.sync.activeSite { roles.append("active") }
            if site.name == p.sync.remoteSite { roles.append("remote") }
            if p.sync.alwaysAccessibleOn.contains(site.name) { roles.append("always accessible") }
            return SiteInfo(config: site, roles: roles, rootPaths: site.rootPaths(on: p.platform),
                            alternates: p.alternates.alternates(of: site.name).sorted())
        }
    }

    /// With no project named: the only project, else the `default` settings.
    func defaultProjectName(_ project: String?) async throws -> String {
        if let project { return project }
        let all = try await catalog.projects()
        return all.count == 1 ? all[0].name : Names.defaultProject
    }

    public func checkSite(_ name: String, project: String?) async throws -> [String] {
        let p = try await self.project(try await defaultProjectName(project))
        let site = try p.site(name)
        let provider = try registry.make(site, platform: p.platform)
        return try await provider.check()
    }

    // MARK: Status

    public func status(project: String?, site: String?) async throws -> [RepresentationSummary] {
        let real = site.map { $0 == Names.localAlias ? siteID : $0 }
        return try await catalog.summaries(project: project, site: real)
    }

    public struct RepresentationDetail: Sendable {
        public var representation: RepresentationRecord
        public var files: [FileRecord]
        public var states: [FileSiteState]
    }

    public func show(_ id: String) async throws -> RepresentationDetail {
        guard let rep = try await catalog.representation(id) else { throw CatalogError.unknownRepresentation(id) }
        return RepresentationDetail(representation: rep, files: try await catalog.files(ofRepresentation: id),
                                    states: try await catalog.states(ofRepresentation: id))
    }

    func requireRepresentation(_ id: String) async throws -> (RepresentationRecord, EffectiveProject) {
        guard let rep = try await catalog.representation(id) else { throw CatalogError.unknownRepresentation(id) }
        return (rep, try await project(rep.context.project))
    }

    // MARK: User operations

    /// Queues the representation for `site` (synced at once where an alternate already has it).
    @discardableResult
    public func addSite(_ id: String, site: String, priority: Int?, force: Bool) async throws -> String {
        let (_, p) = try await requireRepresentation(id)
        let real = try p.site(site).name
        try await catalog.addSite(representation: id, site: real, group: p.alternates.group(of: real),
                                  priority: priority, force: force, now: Date())
        return real
    }

    /// Adds this machine's active site to the representation and to the representations it was made from.
    /// Returns the ids queued (already present ones are left as they are).
    public func download(_ id: String, priority: Int?) async throws -> (site: String, queued: [String]) {
        let (_, p) = try await requireRepresentation(id)
        let active = p.sync.activeSite
        var queued: [String] = []
        var seen: Set<String> = []
        var pending = [id]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            guard let rep = try await catalog.representation(next) else {
                logger.warning("input representation \(next) of \(id) is not in the catalog; skipped")
                continue
            }
            pending += rep.inputs
            let rp = try await project(rep.context.project)
            do {
                try await catalog.addSite(representation: next, site: active, group: rp.alternates.group(of: active),
                                          priority: priority, force: false, now: Date())
                queued.append(next)
            } catch CatalogError.siteAlreadyPresent {
                continue
            }
        }
        return (active, queued)
    }

    public struct RemovalResult: Sendable {
        public var removedSites: [String]
        public var deletedFiles: [String]
        public var undeletable: [String]
    }

    /// Deletes a site's copies and its rows; refuses when that would drop the last synced copy of a file.
    /// Alternates share the storage, so their rows go too.
    public func removeSite(_ id: String, site: String, keepFiles: Bool) async throws -> RemovalResult {
        let (_, p) = try await requireRepresentation(id)
        let real = p.realName(site)
        let config = p.sites[real]
        if config == nil && !keepFiles {
            throw SiteSyncError("site '\(real)' is not reachable from this machine (it is not in the settings of project '\(p.name)'); run remove-site on the machine that owns it, or pass --keep-files to only forget it in the catalog")
        }
        let group = p.alternates.group(of: real)
        let files = try await catalog.files(ofRepresentation: id)
        let states = try await catalog.states(ofRepresentation: id)
        let present = Set(states.filter { group.contains($0.site) }.map(\.fileID))
        try await catalog.removeSites(representation: id, sites: group)
        var deleted: [String] = []
        var failed: [String] = []
        if let config, !keepFiles {
            let provider = try registry.make(config, platform: p.platform)
            for file in files where present.contains(file.id) {
                do {
                    let path = try p.path(of: file.path, on: config)
                    let root = RootlessPath.split(file.path).flatMap { config.rootPaths(on: p.platform)[$0.root] }
                    try await provider.delete(path, pruneUpTo: root)
                    deleted.append(path)
                } catch {
                    failed.append("\(file.path): \(error)")
                }
            }
        }
        return RemovalResult(removedSites: group.sorted(), deletedFiles: deleted, undeletable: failed)
    }

    @discardableResult
    public func reset(_ id: String, site: String) async throws -> Int {
        let (_, p) = try await requireRepresentation(id)
        return try await catalog.resetSite(representation: id, site: p.realName(site), now: Date())
    }

    public func setPriority(_ id: String, _ priority: Int) async throws {
        try await catalog.setPriority(representation: id, priority: priority)
    }

    public enum PauseScope: Sendable {
        case server
        case project(String)
        case representation(String)
    }

    public func setPaused(_ scope: PauseScope, _ paused: Bool) async throws {
        switch scope {
        case .server: try await catalog.setServerPaused(paused)
        case .project(let name): try await catalog.setProjectPaused(name, paused: paused)
        case .representation(let id): try await catalog.setRepresentationPaused(id, paused: paused, now: Date())
        }
    }
}

extension ProviderRegistry {
    /// Every provider this build has.
    public static var standard: ProviderRegistry {
        var registry = ProviderRegistry()
        LocalDriveProvider.register(in: &registry)
        SFTPProvider.register(in: &registry)
        GoogleDriveProvider.register(in: &registry)
        return registry
    }
}
