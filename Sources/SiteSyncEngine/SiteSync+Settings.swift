import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public struct ImportResult: Sendable {
        public var sites: Int
        public var projects: Int
        /// Projects the catalog has that the file does not configure (they use the `default` settings).
        public var warnings: [String]
    }

    /// Replaces the studio settings with a file's, after checking every key against the providers' schemas.
    /// Nothing is stored unless the whole file is good. The file is the whole truth: projects the catalog has
    /// keep what `project add/enable/disable` gave them only if the file says it too, so an import that would
    /// drop such settings is refused (naming them) unless `replaceAll`.
    @discardableResult
    public func importSettings(yaml: String, source: String, replaceAll: Bool = false) async throws -> ImportResult {
        let settings = try StudioSettings(yaml: yaml, source: source)
        if settings.isEmpty && !replaceAll {
            throw SiteSyncError(.invalidInput, "\(source) is empty (or only comments): importing it would remove every site and project setting; pass --replace-all to do that on purpose")
        }
        do {
            try validator.validate(settings)
        } catch let e as SettingsError {
            throw SettingsError(e.path.isEmpty ? source : "\(source): \(e.path)", e.problem)
        } catch let e as SettingsProblems {
            throw SettingsProblems(e.problems.map { SettingsError("\(source): \($0.path)", $0.problem) })
        }
        // A new site named like a machine's own site that has copies would mix the two up.
        let current = try await studioSettings()
        func siteNames(_ studio: StudioSettings) -> Set<String> {
            var names = Set(studio.siteDefinitions.keys)
            for definition in studio.projectDefinitions.values { names.formUnion(definition["sitesync"]?["sites"]?.mapValue?.keys ?? [:].keys) }
            return names
        }
        let clash = siteNames(settings).subtracting(siteNames(current)).intersection(try await catalog.knownSites()).sorted()
        if let name = clash.first {
            throw SiteSyncError(.conflict, "\(source): sites.\(name): '\(name)' already has copies in the catalog as a machine's own site (its site id); give the new site another name")
        }
        // This machine's local settings are one workstation's business: a project they do not resolve with is
        // reported, not a reason to refuse the studio's file.
        var warnings: [String] = []
        let ctx = SettingsContext(studio: settings, local: try await localStore.loadOffPool().settings, siteID: siteID)
        for name in settings.projectNames {
            do { _ = try ctx.project(name) } catch {
                warnings.append("this machine's local settings (\(localStore.path)) do not fit project '\(name)': \(error)")
            }
        }
        let text = settings.document.yamlText()
        var registered: [String] = []
        // Compare-and-set: a `project add` running at the same moment is either seen here or retried there.
        for attempt in 1... {
            let stored = try await catalog.studioSettingsYAML()
            let current = try stored.map { try StudioSettings(yaml: $0, source: "studio settings in the catalog") } ?? StudioSettings()
            registered = try await catalog.projects().map(\.name)
            let dropped = current.settingsDropped(by: settings, projects: registered)
            if !dropped.isEmpty && !replaceAll {
                throw SiteSyncError(.conflict, "\(source) would drop settings projects have now:\n  \(dropped.joined(separator: "\n  "))\nadd them to the file (`sitesync settings export` prints the current settings) or pass --replace-all")
            }
            if try await catalog.replaceStudioSettingsYAML(text, ifStill: stored) { break }
            if attempt >= 20 { throw CatalogError.busy("the studio settings kept changing while they were imported") }
        }
        let now = self.now()
        for name in settings.projectNames { try await catalog.addProject(name, now: now) }
        let configured = Set(settings.projectNames)
        warnings += registered.filter { !configured.contains($0) }.map {
            "project '\($0)' is in the catalog but not in \(source); it uses the `default` project settings"
        }
        return ImportResult(sites: settings.siteDefinitions.count, projects: settings.projectNames.count, warnings: warnings)
    }

    /// Changes the stored studio settings with `change`, retrying when another writer changed them meanwhile.
    func updateStudioSettings(_ change: (inout StudioSettings) throws -> Void) async throws {
        for _ in 0..<20 {
            let stored = try await catalog.studioSettingsYAML()
            var studio = try stored.map { try StudioSettings(yaml: $0, source: "studio settings in the catalog") } ?? StudioSettings()
            try change(&studio)
            if try await catalog.replaceStudioSettingsYAML(studio.document.yamlText(), ifStill: stored) { return }
        }
        throw CatalogError.busy("the studio settings kept changing; try again")
    }

    /// The studio settings as stored; secrets are `***` unless asked for (what they are is the providers' say).
    public func exportSettings(includeSecrets: Bool = false) async throws -> String {
        let studio = try await studioSettings()
        return (includeSecrets ? studio.document : redacted(studio)).yamlText()
    }

    /// The document with each site's secret keys hidden, the site's provider deciding which keys those are.
    func redacted(_ studio: StudioSettings) -> ConfigValue {
        var document = studio.document
        func provider(_ site: String, _ value: ConfigValue?) -> String? {
            value?["provider"]?.stringValue ?? studio.siteDefinitions[site]?["provider"]?.stringValue
                ?? studio.projectDefinitions[Names.defaultProject]?["sitesync"]?["sites"]?[site]?["provider"]?.stringValue
        }
        func hide(_ sites: [String: ConfigValue]) -> ConfigValue {
            .map(Dictionary(uniqueKeysWithValues: sites.map { name, value in
                (name, value.redacted(secretKeys: provider(name, value).map(registry.secretKeys(of:)) ?? registry.allSecretKeys))
            }))
        }
        if !studio.siteDefinitions.isEmpty { document = document.setting(["sites"], to: hide(studio.siteDefinitions)) }
        for (project, definition) in studio.projectDefinitions {
            if let overrides = definition["sitesync"]?["sites"]?.mapValue {
                document = document.setting(["projects", project, "sitesync", "sites"], to: hide(overrides))
            }
        }
        return document
    }

    /// The effective settings on this machine, secrets hidden: one project, or every project.
    public func effectiveSettings(project: String?) async throws -> ConfigValue {
        let ctx = try await context()
        let names: [String]
        if let project { names = [try await defaultProjectName(project)] } else { names = try await catalog.projects().map(\.name) }
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
                "sites": .map(p.sites.mapValues { $0.shownOptions(secretKeys: registry.secretKeys(of: $0.provider)) }),
            ])
        }
        return .map(["site_id": .string(siteID), "enabled": .bool(ctx.studio.enabled), "projects": .map(projects)])
    }

    // MARK: Local settings

    public func localSettings() async throws -> LocalSettings { try await localStore.loadOffPool().settings }

    /// Changes this machine's settings; a new local root folder is created (the person asked for it).
    public func setLocal(project: String?, roots: [String: String], activeSite: String?, remoteSite: String?) throws -> [String] {
        var settings = try localStore.load()
        settings.siteID = settings.siteID ?? siteID
        var layer = project.map { settings.projects[$0] ?? LocalSettings.Layer() } ?? settings.defaults
        var notes: [String] = []
        for (name, path) in roots.sorted(by: { $0.key < $1.key }) {
            guard Names.isValid(name) else { throw SiteSyncError(.invalidInput, "'\(name)' is not a valid root name: use letters, digits, '_', '-' and '.'") }
            guard RootPath.isAbsolute(path, on: .current) else {
                throw SiteSyncError(.invalidInput, "root \(name)=\(path): give an absolute path, e.g. --root \(name)=/home/me/sitesync")
            }
            layer.roots[name] = RootPath(path)
            if !FileManager.default.fileExists(atPath: path) {
                do {
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                } catch {
                    throw SiteSyncError(.invalidInput, "cannot create \(path): \(error.localizedDescription); pick a folder you can write to")
                }
                notes.append("created \(path)")
            }
        }
        if let a = activeSite { try Names.validateSite(a, at: "--active-site"); layer.activeSite = a }
        if let r = remoteSite { try Names.validateSite(r, at: "--remote-site"); layer.remoteSite = r }
        if let project { settings.projects[project] = layer } else { settings.defaults = layer }
        try localStore.save(settings)
        return notes
    }

    /// `setLocal`, refused when the project (or, with none named, any project) would then not resolve: an
    /// active or remote site that is not configured, for example.
    public func setLocalChecked(project: String?, roots: [String: String], activeSite: String?, remoteSite: String?) async throws -> [String] {
        if let project { _ = try await defaultProjectName(project) }
        var candidate = try await localStore.loadOffPool().settings
        var layer = project.map { candidate.projects[$0] ?? LocalSettings.Layer() } ?? candidate.defaults
        if let a = activeSite { layer.activeSite = a }
        if let r = remoteSite { layer.remoteSite = r }
        if let project { candidate.projects[project] = layer } else { candidate.defaults = layer }
        let ctx = try settingsContext(studio: try await studioSettings(), local: candidate)
        let names: [String]
        if let project { names = [project] } else { names = try await catalog.projects().map(\.name) + [Names.defaultProject] }
        for name in names {
            do { _ = try ctx.project(name) } catch let e as SettingsError {
                throw SiteSyncError(.invalidInput, "not saved: with this change, project '\(name)' would not work: \(e.problem)")
            }
        }
        return try setLocal(project: project, roots: roots, activeSite: activeSite, remoteSite: remoteSite)
    }

    // MARK: Projects

    public func addProject(_ name: String, roots: [String: String]) async throws {
        try Names.validateProject(name)
        if try await catalog.projects().contains(where: { $0.name == name }) {
            throw SiteSyncError(.conflict, "project '\(name)' already exists; change its roots with `sitesync settings import`")
        }
        try await updateStudioSettings { studio in
            let inherited = studio.projectDefinitions[Names.defaultProject]?["roots"]?.mapValue ?? [:]
            let own = studio.projectDefinitions[name]?["roots"]?.mapValue ?? [:]
            if roots.isEmpty && inherited.isEmpty && own.isEmpty {
                throw SiteSyncError(.invalidInput, "project '\(name)' needs a root for its studio files: `sitesync project add \(name) --root work=/mnt/studio/projects`")
            }
            for (root, path) in roots {
                studio.set(["projects", name, "roots", root], to: .string(path))
            }
            if studio.projectDefinitions[name] == nil { studio.set(["projects", name], to: .map([:])) }
            try validator.validate(studio)
        }
        try await catalog.addProject(name, now: now())
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
        try await updateStudioSettings { studio in
            studio.set(["projects", name, "sitesync", "enabled"], to: .bool(enabled))
        }
    }
}
