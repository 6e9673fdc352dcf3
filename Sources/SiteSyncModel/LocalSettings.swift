/// The settings of one machine (a YAML file under the user's config dir): its site id, its local roots and
/// which sites it syncs between.
public struct LocalSettings: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public var roots: Roots = [:]
        public var activeSite: String?
        public var remoteSite: String?
        public init() {}
    }

    public var siteID: String?
    public var defaults = Layer()
    public var projects: [String: Layer] = [:]

    public init() {}

    public init(yaml: String, source: String) throws {
        let doc = try ConfigValue.parseYAML(yaml, source: source)
        let r = try ConfigReader(doc, path: "")
        for key in r.map.keys where !["site_id", "default", "projects"].contains(key) {
            throw SettingsError("\(source): \(key)", "unknown key; local settings have: site_id, default, projects")
        }
        siteID = try r.string("site_id")
        if let id = siteID { try Names.validateSite(id, at: "site_id") }
        defaults = try Self.layer(r.map["default"], path: "default")
        let projectsReader = try ConfigReader(r.map["projects"], path: "projects")
        for (name, value) in projectsReader.map {
            projects[name] = try Self.layer(value, path: "projects.\(name)")
        }
    }

    static func layer(_ value: ConfigValue?, path: String) throws -> Layer {
        let r = try ConfigReader(value, path: path)
        for key in r.map.keys where !["roots", "active_site", "remote_site"].contains(key) {
            throw SettingsError("\(path).\(key)", "unknown key; use roots, active_site, remote_site")
        }
        var layer = Layer()
        layer.roots = try RootsParser.parse(r.map["roots"], path: r.key("roots"))
        layer.activeSite = try r.string("active_site")
        layer.remoteSite = try r.string("remote_site")
        if let s = layer.activeSite { try Names.validateSite(s, at: r.key("active_site")) }
        if let s = layer.remoteSite { try Names.validateSite(s, at: r.key("remote_site")) }
        return layer
    }

    public var configValue: ConfigValue {
        func layer(_ l: Layer) -> ConfigValue {
            var m: [String: ConfigValue] = [:]
            if !l.roots.isEmpty { m["roots"] = RootsParser.configValue(l.roots) }
            if let a = l.activeSite { m["active_site"] = .string(a) }
            if let r = l.remoteSite { m["remote_site"] = .string(r) }
            return .map(m)
        }
        var m: [String: ConfigValue] = ["default": layer(defaults)]
        if let siteID { m["site_id"] = .string(siteID) }
        if !projects.isEmpty { m["projects"] = .map(projects.mapValues(layer)) }
        return .map(m)
    }

    public func yamlText() -> String { configValue.yamlText() }
}
