import SiteSyncCatalog
import SiteSyncModel

/// Which transfers a server looks for, decided from the settings alone: for each enabled, unpaused project, the
/// uploads (active → remote), downloads (remote → active) and copies to `always_accessible_on` sites, each from
/// its usual source first, then — for files whose usual source copy is missing or corrupt — from every other site
/// the server can reach that holds a good copy. Pure, so a test checks it in microseconds.
struct ServerPlan: Sendable {
    /// One direction of transfers: files `source` has and `target` wants.
    struct Pair: Hashable, Sendable, Comparable, CustomStringConvertible {
        var source: String
        var target: String
        static func < (a: Pair, b: Pair) -> Bool { (a.source, a.target) < (b.source, b.target) }
        var description: String { "\(source) → \(target)" }
    }

    /// Transfers from one source configuration to one target configuration, for the projects that share both
    /// (a project can override a site, and `studio` is each project's own roots).
    struct Lane: Sendable {
        var source: SiteConfig
        var target: SiteConfig
        var projects: [String]
        /// Sites read before this source: empty for the usual source; a fallback takes only files none of these
        /// holds a good copy of.
        var preferred: [String]

        var pair: Pair { Pair(source: source.name, target: target.name) }
        var isFallback: Bool { !preferred.isEmpty }
    }

    /// Usual sources first, then fallbacks in the order they are read.
    var lanes: [Lane] = []
    var projects: [String: EffectiveProject] = [:]
    /// Projects skipped, and why.
    var warnings: [String] = []

    /// Usual-source pairs → the projects that need them.
    var pairs: [Pair: [String]] {
        lanes.filter { !$0.isFallback }.reduce(into: [:]) { out, lane in
            for p in lane.projects where !(out[lane.pair] ?? []).contains(p) { out[lane.pair, default: []].append(p) }
        }
    }

    /// The shortest `loop_delay` of the planned projects (60 s when there are none).
    var loopDelay: Double { projects.values.map(\.sync.loopDelay).min() ?? 60 }

    /// How a site is named in reports: its name, plus the projects when projects configure it differently
    /// (`studio (project aliens)`), so a problem with one project's roots is not blamed on the others'.
    func label(_ site: SiteConfig) -> String {
        let configs = Set(lanes.flatMap { [$0.source, $0.target] }.filter { $0.name == site.name })
        guard configs.count > 1 else { return site.name }
        let users = Set(lanes.filter { $0.source == site || $0.target == site }.flatMap(\.projects)).sorted()
        return "\(site.name) (project\(users.count == 1 ? "" : "s") \(users.joined(separator: ", ")))"
    }

    /// `projects`: every project the catalog has, with its settings resolved on this machine (or why not).
    static func build(projects: [(record: ProjectRecord, resolved: Result<EffectiveProject, any Error>)],
                      options: ServerOptions) -> ServerPlan {
        var plan = ServerPlan()
        var usual = LaneSet()
        var fallbacks = LaneSet()
        for (record, resolved) in projects.sorted(by: { $0.record.name < $1.record.name }) where !record.paused {
            if let only = options.projects, !only.contains(record.name) { continue }
            let p: EffectiveProject
            switch resolved {
            case .success(let project): p = project
            case .failure(let error):
                plan.warnings.append("project \(record.name): \(error)")
                continue
            }
            guard p.enabled else { continue }
            let active = options.activeSite.map(p.realName) ?? p.sync.activeSite
            guard p.sites[active] != nil else {
                plan.warnings.append("project \(record.name): active site '\(active)' is not configured for it; skipped")
                continue
            }
            let remote = p.sync.remoteSite
            var routes = [Pair(source: active, target: remote), Pair(source: remote, target: active)]
            routes += p.sync.alwaysAccessibleOn.map { Pair(source: active, target: $0) }
            for route in routes where route.source != route.target && !p.alternates.group(of: route.source).contains(route.target) {
                guard let s = p.sites[route.source], let t = p.sites[route.target], s.enabled && t.enabled else { continue }
                usual.add(Lane(source: s, target: t, projects: [record.name], preferred: []))
                // Any other site this machine reaches may stand in when the usual copy is found missing or corrupt;
                // the usual source's alternates share its storage, so they cannot.
                let excluded = p.alternates.group(of: route.source).union(p.alternates.group(of: route.target))
                let others = p.sites.values.filter { $0.enabled && !excluded.contains($0.name) }
                    .sorted { ($0.sourcePreference, $1.name) > ($1.sourcePreference, $0.name) }
                var before = [route.source]
                for other in others {
                    fallbacks.add(Lane(source: other, target: t, projects: [record.name], preferred: before))
                    before.append(other.name)
                }
            }
            plan.projects[record.name] = p
        }
        plan.lanes = usual.lanes + fallbacks.lanes
        return plan
    }

    /// Lanes in the order first added; a lane with the same sites and preferences takes the project instead.
    struct LaneSet {
        struct Key: Hashable {
            var source: SiteConfig
            var target: SiteConfig
            var preferred: [String]
        }
        var lanes: [Lane] = []
        var index: [Key: Int] = [:]

        mutating func add(_ lane: Lane) {
            let key = Key(source: lane.source, target: lane.target, preferred: lane.preferred)
            if let i = index[key] {
                for p in lane.projects where !lanes[i].projects.contains(p) { lanes[i].projects.append(p) }
            } else {
                index[key] = lanes.count
                lanes.append(lane)
            }
        }
    }
}
