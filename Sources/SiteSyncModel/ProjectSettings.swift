/// The `sitesync` block of a project after layering.
public struct ProjectSyncSettings: Sendable, Equatable {
    public var enabled: Bool = true
    public var retryCount: Int = 3
    /// Seconds between polls of the catalog for work other machines queued; new local work starts at once.
    public var loopDelay: Double = 60
    public var activeSite: String = Names.studio
    public var remoteSite: String = Names.studio
    public var alwaysAccessibleOn: [String] = []
    public var publishTemplate: PathTemplate
    /// First retry waits about this many seconds; each further one twice as long, with jitter, up to `retryBackoffMax`.
    public var retryBackoff: Double = 10
    public var retryBackoffMax: Double = 3600

    public init() {
        // The default template is valid by construction.
        publishTemplate = (try? PathTemplate(PathTemplate.defaultPublish))!
    }

    static func parse(_ value: ConfigValue?, path: String) throws -> ProjectSyncSettings {
        let r = try ConfigReader(value, path: path)
        var s = ProjectSyncSettings()
        s.enabled = try r.bool("enabled") ?? s.enabled
        s.retryCount = try r.int("retry_count") ?? r.int("retry_cnt") ?? s.retryCount
        guard s.retryCount >= 1 else { throw SettingsError(r.key("retry_count"), "must be at least 1") }
        s.loopDelay = try r.double("loop_delay") ?? s.loopDelay
        guard s.loopDelay > 0 else { throw SettingsError(r.key("loop_delay"), "must be more than 0 seconds") }
        s.activeSite = try r.string("active_site") ?? s.activeSite
        s.remoteSite = try r.string("remote_site") ?? s.remoteSite
        try Names.validateSite(s.activeSite, at: r.key("active_site"))
        try Names.validateSite(s.remoteSite, at: r.key("remote_site"))
        s.alwaysAccessibleOn = try r.stringList("always_accessible_on") ?? []
        for (i, site) in s.alwaysAccessibleOn.enumerated() {
            try Names.validateSite(site, at: "\(r.key("always_accessible_on"))[\(i)]")
        }
        if let template = try r.string("publish_template") { s.publishTemplate = try PathTemplate(template) }
        s.retryBackoff = try r.double("retry_backoff") ?? s.retryBackoff
        s.retryBackoffMax = try r.double("retry_backoff_max") ?? s.retryBackoffMax
        guard s.retryBackoff >= 0, s.retryBackoffMax >= s.retryBackoff else {
            throw SettingsError(r.key("retry_backoff"), "must be 0 or more and not above retry_backoff_max")
        }
        return s
    }
}

/// The studio settings document (`sitesync settings import studio.yaml`), stored in the catalog.
public struct StudioSettings: Sendable, Equatable {
    public var document: ConfigValue

    public init(document: ConfigValue = .map([:])) {
        self.document = document
    }

    /// Parses and checks every site and project, so a bad file is refused at import, not at 3 a.m.
    public init(yaml: String, source: String) throws {
        let doc = try ConfigValue.parseYAML(yaml, source: source)
        guard doc.mapValue != nil else { throw SettingsError(source, "the top level must be a map (enabled, sites, projects)") }
        self.document = doc
        try validate()
    }

    public var enabled: Bool {
        guard let reader = try? ConfigReader(document, path: ""), let value = try? reader.bool("enabled") else { return true }
        return value
    }

    public var siteDefinitions: [String: ConfigValue] { document["sites"]?.mapValue ?? [:] }
    public var projectDefinitions: [String: ConfigValue] { document["projects"]?.mapValue ?? [:] }

    /// Project names configured in the document (without `default`).
    public var projectNames: [String] {
        projectDefinitions.keys.filter { $0 != Names.defaultProject }.sorted()
    }

    public func validate() throws {
        let top = try ConfigReader(document, path: "")
        _ = try top.bool("enabled")
        let known: Set<String> = ["enabled", "sites", "projects"]
        for key in top.map.keys where !known.contains(key) {
            throw SettingsError(key, "unknown key; the studio settings have: enabled, sites, projects")
        }
        for key in ["sites", "projects"] {
            if let v = top.map[key], v != .null, v.mapValue == nil { throw SettingsError(key, "expected a map of names") }
        }
        for (name, value) in siteDefinitions {
            try Names.validateSite(name, at: "sites.\(name)")
            if name == Names.localAlias {
                throw SettingsError("sites.local", "'local' is this machine's site; set its roots in the local settings")
            }
            if name == Names.studio {
                _ = try ConfigReader(value, path: "sites.studio")  // studio's provider is fixed: local_drive
            } else {
                _ = try SiteConfig.parse(name: name, value, path: "sites.\(name)")
            }
        }
        for name in projectDefinitions.keys where name != Names.defaultProject {
            try Names.validateProject(name)
        }
        for name in projectDefinitions.keys {
            let p = try ConfigReader(projectDefinitions[name], path: "projects.\(name)")
            for key in p.map.keys where !["roots", "sitesync"].contains(key) {
                throw SettingsError("projects.\(name).\(key)", "unknown key; a project has: roots, sitesync")
            }
            _ = try RootsParser.parse(p.map["roots"], path: "projects.\(name).roots")
            let sync = try layeredSync(project: name)
            _ = try ProjectSyncSettings.parse(sync, path: "projects.\(name).sitesync")
            let overrides = try ConfigReader(sync["sites"], path: "projects.\(name).sitesync.sites")
            for (site, value) in overrides.map {
                _ = try ConfigReader(value, path: "projects.\(name).sitesync.sites.\(site)")
            }
        }
    }

    /// `default`'s sitesync block with the project's laid over it.
    func layeredSync(project: String) throws -> ConfigValue {
        let base = projectDefinitions[Names.defaultProject]?["sitesync"] ?? .map([:])
        guard project != Names.defaultProject else { return base }
        return base.merged(with: projectDefinitions[project]?["sitesync"])
    }

    /// Sets one value at a dotted path, creating maps on the way (used by `project add`, `project enable`).
    public mutating func set(_ path: [String], to value: ConfigValue) {
        func put(_ node: ConfigValue, _ keys: ArraySlice<String>) -> ConfigValue {
            guard let key = keys.first else { return value }
            var m = node.mapValue ?? [:]
            m[key] = put(m[key] ?? .map([:]), keys.dropFirst())
            return .map(m)
        }
        document = put(document, path[...])
    }
}
