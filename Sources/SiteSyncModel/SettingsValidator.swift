/// Checks a studio settings document against the providers' schemas before anything is stored, so a bad file is
/// refused at import with every problem named by where it is written, not discovered by a server at 3 a.m.
///
/// Each problem names the key's path in the layer where it was written (`sites.vendor.port`,
/// `projects.robots.sitesync.sites.backup.roots`), never the project that merely inherited it.
/// Work is linear in the size of the document.
public struct SettingsValidator: Sendable {
    public let schemas: [String: ProviderSchema]
    /// At most this many problems are reported at once.
    public static let reportLimit = 20

    public init(schemas: [ProviderSchema]) {
        self.schemas = Dictionary(schemas.map { ($0.provider, $0) }, uniquingKeysWith: { $1 })
    }

    /// Throws the problem, or `SettingsProblems` when there are several.
    public func validate(_ settings: StudioSettings) throws {
        let found = problems(in: settings)
        if found.count == 1 { throw found[0] }
        if !found.isEmpty { throw SettingsProblems(Array(found.prefix(Self.reportLimit)), total: found.count) }
    }

    static let topKeys = ["enabled", "sites", "projects"]
    static let projectKeys = ["roots", "sitesync"]
    static let studioKeys = ["alternative_sites", "enabled", "concurrency", "bandwidth_limit", "source_preference",
                             "scrub_every_days", "scrub_bandwidth_limit"]

    public func problems(in settings: StudioSettings) -> [SettingsError] {
        var found = Found()
        guard let top = settings.document.mapValue else {
            return [SettingsError("", "the top level must be a map (enabled, sites, projects)")]
        }
        for key in top.keys.sorted() where !Self.topKeys.contains(key) {
            found.add(key, Suggestion.unknownKey(key, known: Self.topKeys, what: "the studio settings have"))
        }
        if let e = top["enabled"], e != .null, e.booleanValue == nil { found.add("enabled", "expected true or false") }
        let sites = map(top["sites"], at: "sites", "a map of site name → settings", &found)
        let projects = map(top["projects"], at: "projects", "a map of project name → settings", &found)

        // Sites as the system layer defines them.
        var providers: [String: String] = [:]
        for (name, value) in sites.sorted(by: { $0.key < $1.key }) {
            if let p = checkSite(name, value, at: "sites.\(name)", inherited: nil, &found) { providers[name] = p }
        }
        let systemNames = Set(sites.keys).union([Names.studio, Names.localAlias])

        // Projects, `default` first: what it defines, the others inherit.
        let defaultOverrides = overrides(of: projects[Names.defaultProject])
        var defaultProviders = providers
        let names = projects.keys.sorted { ($0 == Names.defaultProject ? "" : $0) < ($1 == Names.defaultProject ? "" : $1) }
        for name in names {
            let path = "projects.\(name)"
            if name != Names.defaultProject, !Names.isValid(name) {
                found.add(path, "'\(name)' is not a valid project name: use letters, digits, '_', '-' and '.'")
                continue
            }
            let project = map(projects[name], at: path, "a map with roots and sitesync", &found)
            for key in project.keys.sorted() where !Self.projectKeys.contains(key) {
                found.add("\(path).\(key)", Suggestion.unknownKey(key, known: Self.projectKeys, what: "a project has"))
            }
            checkRoots(project["roots"], at: "\(path).roots", &found)
            let sync = map(project["sitesync"], at: "\(path).sitesync", "a map of sitesync settings", &found)
            checkOptions(sync, ProjectSyncSettings.options, at: "\(path).sitesync", what: "a sitesync block has", skip: ["sites"], &found)
            if sync["retry_count"] != nil && sync["retry_cnt"] != nil {
                found.add("\(path).sitesync.retry_cnt", "give retry_count or retry_cnt (OpenPype's name), not both")
            }
            // Per-project site overrides; a site they introduce must say its provider.
            var known = name == Names.defaultProject ? systemNames : systemNames.union(defaultOverrides.keys)
            var layerProviders = name == Names.defaultProject ? providers : defaultProviders
            let own = map(sync["sites"], at: "\(path).sitesync.sites", "a map of site name → settings", &found)
            for (site, value) in own.sorted(by: { $0.key < $1.key }) {
                if let p = checkSite(site, value, at: "\(path).sitesync.sites.\(site)", inherited: layerProviders[site], &found) {
                    layerProviders[site] = p
                }
            }
            known.formUnion(own.keys)
            if name == Names.defaultProject { defaultProviders = layerProviders }
            checkReferences(sync, at: "\(path).sitesync", known: known, &found)
            // Alternates named inside overrides refer to sites this project knows.
            for (site, value) in own.sorted(by: { $0.key < $1.key }) {
                checkAlternates(value, of: site, at: "\(path).sitesync.sites.\(site)", known: known, &found)
            }
        }
        for (name, value) in sites.sorted(by: { $0.key < $1.key }) {
            checkAlternates(value, of: name, at: "sites.\(name)", known: systemNames, &found)
        }
        checkEffective(settings, &found)
        return found.list
    }

    // MARK: Pieces

    struct Found {
        var list: [SettingsError] = []
        var seen: Set<String> = []
        mutating func add(_ path: String, _ problem: String) {
            let e = SettingsError(path, problem)
            if seen.insert(e.description).inserted { list.append(e) }
        }
        mutating func add(_ e: SettingsError) { add(e.path, e.problem) }
        /// A problem was already found at or below this path (checks of the merged layers skip it).
        func touches(_ prefix: String) -> Bool {
            list.contains { $0.path == prefix || $0.path.hasPrefix(prefix + ".") || $0.path.hasPrefix(prefix + "[") }
        }
    }

    func map(_ value: ConfigValue?, at path: String, _ expected: String, _ found: inout Found) -> [String: ConfigValue] {
        switch value {
        case nil, .null?: return [:]
        case .map(let m)?: return m
        default:
            found.add(path, "expected \(expected)")
            return [:]
        }
    }

    func overrides(of project: ConfigValue?) -> [String: ConfigValue] {
        project?["sitesync"]?["sites"]?.mapValue ?? [:]
    }

    func checkOptions(_ values: [String: ConfigValue], _ specs: [OptionSpec], at path: String, what: String,
                      skip: Set<String> = [], _ found: inout Found) {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) where !skip.contains(key) {
            guard let spec = specs.first(where: { $0.key == key }) else {
                found.add("\(path).\(key)", Suggestion.unknownKey(key, known: specs.map(\.key), what: what))
                continue
            }
            if let problem = spec.problem(with: value, at: "\(path).\(key)") { found.add(problem) }
        }
    }

    /// One site entry of one layer. Returns its provider when it can tell.
    @discardableResult
    func checkSite(_ name: String, _ value: ConfigValue, at path: String, inherited: String?, _ found: inout Found) -> String? {
        guard Names.isValid(name) else {
            found.add(path, "'\(name)' is not a valid site name: use letters, digits, '_', '-' and '.'")
            return nil
        }
        if name == Names.localAlias {
            found.add(path, "'local' is this machine's site; set its roots with `sitesync local set --root work=PATH`")
            return nil
        }
        let options = map(value, at: path, "a map of site settings", &found)
        if name == Names.studio {
            for key in options.keys.sorted() {
                switch key {
                case "roots":
                    found.add("\(path).roots", "studio's roots are each project's roots; set them as projects.<project>.roots (or projects.default.roots)")
                case "provider" where options[key]?.stringValue != SiteConfig.localDrive:
                    found.add("\(path).provider", "studio is always a local_drive site (the projects' own roots); remove this key")
                case "provider":
                    break
                default:
                    guard Self.studioKeys.contains(key), let spec = SiteConfig.commonOptions.first(where: { $0.key == key }) else {
                        found.add("\(path).\(key)", Suggestion.unknownKey(key, known: Self.studioKeys, what: "studio takes"))
                        continue
                    }
                    if let problem = spec.problem(with: options[key] ?? .null, at: "\(path).\(key)") { found.add(problem) }
                }
            }
            return SiteConfig.localDrive
        }
        let provider = options["provider"]?.stringValue ?? inherited
        guard let provider, !provider.isEmpty else {
            found.add(path, "site '\(name)' has no provider; add `provider: local_drive` (or \(schemas.keys.sorted().joined(separator: ", ")))")
            return nil
        }
        guard let schema = schemas[provider] else {
            let known = schemas.keys.sorted()
            let hint = Suggestion.nearest(to: provider, among: known).map { "did you mean '\($0)'? " } ?? ""
            found.add(options["provider"] == nil ? path : "\(path).provider",
                      "unknown provider '\(provider)'; \(hint)(this build has: \(known.joined(separator: ", ")))")
            return nil
        }
        checkOptions(options, schema.allOptions, at: path, what: "\(provider) sites take", skip: ["roots"], &found)
        if options["roots"] != nil { checkRoots(options["roots"], at: "\(path).roots", &found) }
        return provider
    }

    /// Root name → absolute path, or per platform.
    func checkRoots(_ value: ConfigValue?, at path: String, _ found: inout Found) {
        for (name, root) in map(value, at: path, "a map of root name → path, e.g. {work: /mnt/studio}", &found).sorted(by: { $0.key < $1.key }) {
            let rootPath = "\(path).\(name)"
            guard Names.isValid(name) else {
                found.add(rootPath, "'\(name)' is not a valid root name: use letters, digits, '_', '-' and '.'")
                continue
            }
            switch root {
            case .string, .int, .double:
                checkAbsolute(root.stringValue ?? "", on: nil, at: rootPath, &found)
            case .map(let perPlatform):
                for (platform, p) in perPlatform.sorted(by: { $0.key < $1.key }) {
                    guard let os = Platform(rawValue: platform) else {
                        found.add("\(rootPath).\(platform)", Suggestion.unknownKey(platform, known: Platform.allCases.map(\.rawValue), what: "platforms"))
                        continue
                    }
                    guard let text = p.stringValue else {
                        found.add("\(rootPath).\(platform)", "expected a path")
                        continue
                    }
                    checkAbsolute(text, on: os, at: "\(rootPath).\(platform)", &found)
                }
            default:
                found.add(rootPath, "expected a path or a map of linux/windows/darwin paths")
            }
        }
    }

    func checkAbsolute(_ path: String, on platform: Platform?, at key: String, _ found: inout Found) {
        if path.isEmpty {
            found.add(key, "is empty; give the root's absolute path, e.g. /mnt/studio")
        } else if platform != .windows, RootPath.isAbsolute(path, on: .windows), !path.hasPrefix("/") {
            found.add(key, "'\(path)' is a Windows path; give paths per platform, e.g. {windows: '\(path)', linux: /mnt/…}")
        } else if path.hasPrefix("~") {
            found.add(key, "'\(path)': '~' is not expanded in settings; write the full path (e.g. /home/…)")
        } else if !RootPath.isAbsolute(path, on: platform ?? .linux) {
            let rest = path.drop { $0 == "/" || $0 == "\\" }
            found.add(key, "'\(path)' is a relative path; give an absolute one (e.g. \(platform == .windows ? "P:/\(rest)" : "/mnt/\(rest)"))")
        }
    }

    func checkReferences(_ sync: [String: ConfigValue], at path: String, known: Set<String>, _ found: inout Found) {
        for key in ["active_site", "remote_site"] {
            if let name = sync[key]?.stringValue, !known.contains(name) {
                found.add("\(path).\(key)", unknownSite(name, known))
            }
        }
        if case .list(let items)? = sync["always_accessible_on"] {
            for (i, item) in items.enumerated() {
                if let name = item.stringValue, !known.contains(name) {
                    found.add("\(path).always_accessible_on[\(i)]", unknownSite(name, known))
                }
            }
        } else if let name = sync["always_accessible_on"]?.stringValue, !name.isEmpty, !known.contains(name) {
            found.add("\(path).always_accessible_on", unknownSite(name, known))
        }
    }

    func checkAlternates(_ definition: ConfigValue, of site: String, at path: String, known: Set<String>, _ found: inout Found) {
        let value = definition["alternative_sites"]
        let names: [String]
        switch value {
        case .list(let items)?: names = items.compactMap(\.stringValue)
        case .string(let s)?: names = s.isEmpty ? [] : [s]
        default: names = []
        }
        let single = value?.stringValue != nil
        var seen: Set<String> = []
        for (i, name) in names.enumerated() {
            let at = single ? "\(path).alternative_sites" : "\(path).alternative_sites[\(i)]"
            if name == Names.localAlias {
                found.add(at, "'local' is every machine's own site, which holds different files on each machine; it cannot be an alternate of a shared site")
            } else if name == site {
                found.add(at, "a site is not its own alternate; remove '\(name)'")
            } else if !seen.insert(name).inserted {
                found.add(at, "'\(name)' is listed twice")
            } else if !known.contains(name) {
                found.add(at, unknownSite(name, known))
            }
        }
    }

    func unknownSite(_ name: String, _ known: Set<String>) -> String {
        let list = known.sorted()
        let hint = Suggestion.nearest(to: name, among: list).map { "did you mean '\($0)'? " } ?? ""
        return "'\(name)' is not a configured site; \(hint)(known: \(list.joined(separator: ", ")); `local` is this machine's site)"
    }

    /// Where a `sitesync` key of a project is written: the project's own block, else `default`'s.
    func written(_ key: String, in project: String, _ defs: [String: ConfigValue]) -> String {
        if project != Names.defaultProject, defs[project]?["sitesync"]?[key] != nil { return "projects.\(project).sitesync.\(key)" }
        return "projects.\(Names.defaultProject).sitesync.\(key)"
    }

    /// Rules that need the layers merged: required keys, roots, one-of groups, the sitesync numbers together.
    func checkEffective(_ settings: StudioSettings, _ found: inout Found) {
        let defs = settings.projectDefinitions
        let defaultOverrides = overrides(of: defs[Names.defaultProject])
        let names = [Names.defaultProject] + defs.keys.filter { $0 != Names.defaultProject }.sorted()
        let defaultRoots = defs[Names.defaultProject]?["roots"]?.mapValue ?? [:]
        for project in names {
            let own = project == Names.defaultProject ? [:] : overrides(of: defs[project])
            let layers = ["projects.\(project).sitesync", "projects.\(Names.defaultProject).sitesync"]
            if !layers.contains(where: found.touches) {
                do {
                    let sync = try ProjectSyncSettings.parse(try settings.layeredSync(project: project), path: "projects.\(project).sitesync")
                    let roots = Set((defs[project]?["roots"]?.mapValue ?? [:]).keys).union(defaultRoots.keys)
                    if project != Names.defaultProject, !roots.isEmpty, !roots.contains(sync.publishTemplate.rootName) {
                        found.add(written("publish_template", in: project, defs), "uses {root[\(sync.publishTemplate.rootName)]}, but project \(project) has no root '\(sync.publishTemplate.rootName)' (it has: \(roots.sorted().joined(separator: ", ")))")
                    }
                } catch let e as SettingsError {
                    // Named where the key is written: a problem in `default` is one problem, not one per project.
                    let key = e.path.split(separator: ".").last.map(String.init) ?? ""
                    found.add(written(key, in: project, defs), e.problem)
                } catch {
                    found.add("projects.\(project).sitesync", "\(error)")
                }
            }
            if project != Names.defaultProject, (defs[project]?["roots"]?.mapValue ?? [:]).isEmpty, defaultRoots.isEmpty {
                found.add("projects.\(project)", "has no roots (and projects.default sets none): studio keeps the project's files there; add e.g. `roots: {work: /mnt/studio/projects}`")
            }
            let siteNames = Set(settings.siteDefinitions.keys).union(defaultOverrides.keys).union(own.keys)
                .subtracting([Names.studio, Names.localAlias])
            for site in siteNames.sorted() where !found.touches("sites.\(site)")
                && !found.touches("projects.\(Names.defaultProject).sitesync.sites.\(site)") && !found.touches("projects.\(project).sitesync.sites.\(site)") {
                let merged = (settings.siteDefinitions[site] ?? .map([:]))
                    .merged(with: defaultOverrides[site]).merged(with: own[site])
                guard let options = merged.mapValue, let provider = options["provider"]?.stringValue,
                      let schema = schemas[provider] else { continue }
                let defined = settings.siteDefinitions[site] != nil ? "sites.\(site)"
                    : (defaultOverrides[site] != nil ? "projects.default.sitesync.sites.\(site)" : "projects.\(project).sitesync.sites.\(site)")
                for spec in schema.allOptions where spec.required && (options[spec.key] ?? .null) == .null {
                    found.add(defined, "\(provider) sites need `\(spec.key)` (\(spec.help))")
                }
                for group in schema.exactlyOneOf {
                    let set = group.filter { (options[$0] ?? .null) != .null }
                    if set.count != 1 {
                        found.add(defined, set.isEmpty ? "\(provider) sites need one of \(group.map { "`\($0)`" }.joined(separator: " or "))"
                                                       : "give only one of \(set.map { "`\($0)`" }.joined(separator: " and "))")
                    }
                }
                if schema.needsRoots, (options["roots"]?.mapValue ?? [:]).isEmpty {
                    found.add(defined, "site '\(site)' has no roots; add e.g. `roots: {work: /mnt/\(site)}`")
                }
                for problem in schema.rules?(options) ?? [] { found.add(defined, problem) }
            }
        }
    }
}
