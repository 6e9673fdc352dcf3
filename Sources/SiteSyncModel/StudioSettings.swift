/// The studio settings document (`sitesync settings import studio.yaml`), stored in the catalog.
public struct StudioSettings: Sendable, Equatable {
    public var document: ConfigValue

    public init(document: ConfigValue = .map([:])) {
        self.document = document
    }

    /// Parses a studio settings file. Checking it against the providers' schemas is `SettingsValidator`'s job.
    public init(yaml: String, source: String) throws {
        let doc = try ConfigValue.parseYAML(yaml, source: source)
        guard doc.mapValue != nil else { throw SettingsError(source, "the top level must be a map (enabled, sites, projects)") }
        self.document = doc
    }

    /// Nothing is set: an empty or comment-only file.
    public var isEmpty: Bool { document.mapValue?.isEmpty ?? true }

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

    /// `default`'s sitesync block with the project's laid over it.
    func layeredSync(project: String) throws -> ConfigValue {
        let base = projectDefinitions[Names.defaultProject]?["sitesync"] ?? .map([:])
        guard project != Names.defaultProject else { return base }
        return base.merged(with: projectDefinitions[project]?["sitesync"])
    }

    /// Sets one value at a dotted path, creating maps on the way (used by `project add`, `project enable`).
    public mutating func set(_ path: [String], to value: ConfigValue) {
        document = document.setting(path, to: value)
    }
}

extension StudioSettings {
    /// What replacing these settings with `new` would silently take from projects the catalog has: a project's
    /// whole definition, one of its roots, or the `sitesync.enabled` that `sitesync project enable/disable`
    /// writes. Values the new file sets differently are deliberate edits and are not listed.
    public func settingsDropped(by new: StudioSettings, projects: [String]) -> [String] {
        var out: [String] = []
        for name in projects.sorted() {
            guard let old = projectDefinitions[name] else { continue }
            let oldRoots = (old["roots"]?.mapValue ?? [:]).sorted { $0.key < $1.key }
            // `enabled` matters only where the new file would change what the project does.
            let inheritedEnabled = new.projectDefinitions[Names.defaultProject]?["sitesync"]?["enabled"]?.booleanValue ?? true
            let newEnabled = new.projectDefinitions[name]?["sitesync"]?["enabled"]?.booleanValue ?? inheritedEnabled
            let enabled = old["sitesync"]?["enabled"].flatMap { $0.booleanValue == nil || $0.booleanValue == newEnabled ? nil : $0 }
            guard let replacement = new.projectDefinitions[name] else {
                var lost = oldRoots.map { "roots.\($0.key) = \($0.value.inlineText)" }
                if let enabled { lost.append("sitesync.enabled = \(enabled.inlineText)") }
                if !lost.isEmpty { out.append("project '\(name)' is not in the file; it would lose \(lost.joined(separator: ", "))") }
                continue
            }
            let newRoots = replacement["roots"]?.mapValue ?? [:]
            for (root, value) in oldRoots where newRoots[root] == nil {
                out.append("project '\(name)' would lose roots.\(root) = \(value.inlineText)")
            }
            if let enabled {
                out.append("project '\(name)' would lose sitesync.enabled = \(enabled.inlineText)")
            }
        }
        return out
    }
}

extension ConfigValue {
    /// One line, as a person would write it in YAML flow style.
    public var inlineText: String {
        switch self {
        case .string(let s): return s
        case .int, .double, .bool: return stringValue ?? ""
        case .null: return "null"
        case .list(let l): return "[" + l.map(\.inlineText).joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.inlineText)" }.joined(separator: ", ") + "}"
        }
    }
}
