import SiteSyncCatalog
import SiteSyncModel

/// Which transfers a server looks for, decided from the settings alone: for each enabled, unpaused project, the
/// uploads (active → remote), downloads (remote → active) and copies to `always_accessible_on` sites.
/// Pure, so a test checks it in microseconds.
struct ServerPlan: Sendable {
    /// One direction of transfers: files `source` has and `target` wants.
    struct Pair: Hashable, Sendable, Comparable, CustomStringConvertible {
        var source: String
        var target: String
        static func < (a: Pair, b: Pair) -> Bool { (a.source, a.target) < (b.source, b.target) }
        var description: String { "\(source) → \(target)" }
    }

    /// Pair → the projects that need it.
    var pairs: [Pair: [String]] = [:]
    var projects: [String: EffectiveProject] = [:]
    /// Every site a pair names, as the first project that uses it configures it.
    var sites: [String: SiteConfig] = [:]
    /// Projects skipped, and why.
    var warnings: [String] = []

    /// The shortest `loop_delay` of the planned projects (60 s when there are none).
    var loopDelay: Double { projects.values.map(\.sync.loopDelay).min() ?? 60 }

    /// `projects`: every project the catalog has, with its settings resolved on this machine (or why not).
    static func build(projects: [(record: ProjectRecord, resolved: Result<EffectiveProject, any Error>)],
                      options: ServerOptions) -> ServerPlan {
        var plan = ServerPlan()
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
            var pairs = [Pair(source: active, target: remote), Pair(source: remote, target: active)]
            pairs += p.sync.alwaysAccessibleOn.map { Pair(source: active, target: $0) }
            for pair in pairs where pair.source != pair.target && !p.alternates.group(of: pair.source).contains(pair.target) {
                guard let s = p.sites[pair.source], let t = p.sites[pair.target], s.enabled && t.enabled else { continue }
                if !plan.pairs[pair, default: []].contains(record.name) { plan.pairs[pair, default: []].append(record.name) }
                plan.sites[s.name] = plan.sites[s.name] ?? s
                plan.sites[t.name] = plan.sites[t.name] ?? t
            }
            plan.projects[record.name] = p
        }
        return plan
    }
}
