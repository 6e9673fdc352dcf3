/// Everything needed to resolve settings on one machine: the studio document, this machine's local settings,
/// its site id and platform.
public struct SettingsContext: Sendable {
    public var studio: StudioSettings
    public var local: LocalSettings
    public var siteID: String
    public var platform: Platform

    public init(studio: StudioSettings, local: LocalSettings, siteID: String, platform: Platform = .current) {
        self.studio = studio
        self.local = local
        self.siteID = siteID
        self.platform = platform
    }

    /// The project's settings after every layer: system → project `default` → project → this machine.
    public func project(_ name: String) throws -> EffectiveProject {
        let defs = studio.projectDefinitions
        let path = "projects.\(name)"
        let defaultRoots = try RootsParser.parse(defs[Names.defaultProject]?["roots"], path: "projects.default.roots")
        let ownRoots = try RootsParser.parse(defs[name]?["roots"], path: "\(path).roots")
        let projectRoots = defaultRoots.merging(ownRoots) { $1 }

        let syncValue = try studio.layeredSync(project: name)
        var sync = try ProjectSyncSettings.parse(syncValue, path: "\(path).sitesync")
        let localProject = local.projects[name]
        if let a = local.defaults.activeSite { sync.activeSite = a }
        if let r = local.defaults.remoteSite { sync.remoteSite = r }
        if let a = localProject?.activeSite { sync.activeSite = a }
        if let r = localProject?.remoteSite { sync.remoteSite = r }
        let enabled = studio.enabled && sync.enabled
        if !enabled {
            // With Site Sync off everyone works on the studio site, whatever this machine's local settings say.
            sync.activeSite = Names.studio
            sync.remoteSite = Names.studio
        }

        // Sites: system definitions, then project `default` overrides, then the project's own.
        let overridesDefault = defs[Names.defaultProject]?["sitesync"]?["sites"]?.mapValue ?? [:]
        let overridesOwn = name == Names.defaultProject ? [:] : (defs[name]?["sitesync"]?["sites"]?.mapValue ?? [:])
        var sites: [String: SiteConfig] = [:]
        let names = Set(studio.siteDefinitions.keys).union(overridesDefault.keys).union(overridesOwn.keys)
            .subtracting([Names.studio, Names.localAlias, siteID])
        for site in names {
            let merged = (studio.siteDefinitions[site] ?? .map([:]))
                .merged(with: overridesDefault[site]).merged(with: overridesOwn[site])
            sites[site] = try SiteConfig.parse(name: site, merged, path: "sites.\(site)")
        }
        // Built-in: `studio` is the project's own roots on a local drive.
        let studioValue = (studio.siteDefinitions[Names.studio] ?? .map([:]))
            .merged(with: overridesDefault[Names.studio]).merged(with: overridesOwn[Names.studio])
        let studioReader = try ConfigReader(studioValue, path: "sites.studio")
        var studioSite = try SiteConfig.parse(name: Names.studio,
            studioValue.merged(with: .map(["provider": .string(SiteConfig.localDrive)])), path: "sites.studio")
        studioSite.roots = projectRoots.merging(
            try RootsParser.parse(studioReader.map["roots"], path: "sites.studio.roots")) { $1 }
        sites[Names.studio] = studioSite
        // Built-in: this machine's site, with the roots from its local settings.
        let localRoots = local.defaults.roots.merging(localProject?.roots ?? [:]) { $1 }
        sites[siteID] = SiteConfig(name: siteID, provider: SiteConfig.localDrive, roots: localRoots)

        func resolve(_ site: String, _ key: String) throws -> String {
            let real = site == Names.localAlias ? siteID : site
            guard sites[real] != nil else {
                let known = sites.keys.sorted().joined(separator: ", ")
                throw SettingsError("\(path).sitesync.\(key)", "'\(site)' is not a configured site (known: \(known))")
            }
            return real
        }
        sync.activeSite = try resolve(sync.activeSite, "active_site")
        sync.remoteSite = try resolve(sync.remoteSite, "remote_site")
        sync.alwaysAccessibleOn = try sync.alwaysAccessibleOn.map { try resolve($0, "always_accessible_on") }

        let alternates = AlternateSites(declared: sites.mapValues {
            $0.alternativeSites.map { $0 == Names.localAlias ? siteID : $0 }
        })
        return EffectiveProject(name: name, enabled: enabled, sync: sync, roots: projectRoots,
                                sites: sites, alternates: alternates, siteID: siteID, platform: platform)
    }
}

/// One project's resolved settings on this machine. Site names are real: `local` is already this machine's id.
public struct EffectiveProject: Sendable {
    public let name: String
    public let enabled: Bool
    public let sync: ProjectSyncSettings
    public let roots: Roots
    public let sites: [String: SiteConfig]
    public let alternates: AlternateSites
    public let siteID: String
    public let platform: Platform

    public var retryPolicy: RetryPolicy {
        RetryPolicy(count: sync.retryCount, base: sync.retryBackoff, max: sync.retryBackoffMax)
    }

    /// `local` → this machine's id; every other name as it is.
    public func realName(_ site: String) -> String {
        site == Names.localAlias ? siteID : site
    }

    public func site(_ name: String) throws -> SiteConfig {
        let real = realName(name)
        guard let site = sites[real] else {
            let known = sites.keys.sorted().joined(separator: ", ")
            throw SettingsError("sites", "project '\(self.name)' has no site '\(name)' (known: \(known)); another machine's own site can only be reached from that machine")
        }
        return site
    }

    /// Where a rootless catalog path lives on a site, on this platform.
    public func path(of rootless: String, on site: SiteConfig) throws -> String {
        do {
            return try RootlessPath.resolve(rootless, roots: site.rootPaths(on: platform), site: site.name)
        } catch let e as SettingsError where site.name == Names.studio {
            // studio's roots are the project's: say where to set them.
            let root = RootlessPath.split(rootless)?.root ?? "work"
            throw SettingsError("projects.\(name).roots.\(root)", "project '\(name)' has no root '\(root)' for \(platform.rawValue) (studio's files live under the project's roots); add it, e.g. `roots: {\(root): {\(platform.rawValue): /mnt/studio/projects}}` (\(e.problem))")
        }
    }

    /// The site rows a new publish gets: the active site synced, the remote and `always_accessible_on` sites
    /// queued, and alternates mirroring whichever site of their group is attached.
    public func publishSites() -> [String: FileSyncStatus] {
        var out: [String: FileSyncStatus] = [:]
        let active = sync.activeSite
        for site in alternates.group(of: active) { out[site] = .synced }
        for site in [sync.remoteSite] + sync.alwaysAccessibleOn where out[site] == nil {
            for member in alternates.group(of: site) where out[member] == nil { out[member] = .queued }
        }
        return out
    }
}
