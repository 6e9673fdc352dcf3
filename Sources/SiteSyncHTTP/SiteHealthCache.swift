import Foundation
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncModel

/// Each site's last check for the sites panel. A server running in this process knows it already (it checks
/// every site it uses); otherwise — `sitesync web` — the site is checked here, at most once a minute, never for
/// longer than 10 s.
actor SiteHealthCache {
    let engine: SiteSync
    let progress: (@Sendable () -> ServerProgress)?
    var cached: [String: SiteHealthJSON] = [:]
    static let fresh: TimeInterval = 60

    init(engine: SiteSync, progress: (@Sendable () -> ServerProgress)?) {
        self.engine = engine
        self.progress = progress
    }

    func checks(project: String, sites: [String]) async -> [String: SiteHealthJSON] {
        var out: [String: SiteHealthJSON] = [:]
        let server = progress?()
        let now = Date()
        await withTaskGroup(of: (String, SiteHealthJSON).self) { group in
            for site in sites {
                if let at = server?.checked[site] {
                    let why = server?.unavailable[site]
                    out[site] = SiteHealthJSON(checkedAt: at, ok: why == nil, message: why)
                    continue
                }
                let key = "\(project)/\(site)"
                if let known = cached[key], now.timeIntervalSince(known.checkedAt) < Self.fresh {
                    out[site] = known
                    continue
                }
                let engine = self.engine
                group.addTask {
                    let result = await Self.check(engine, site: site, project: project)
                    return (site, result)
                }
            }
            for await (site, result) in group {
                out[site] = result
                cached["\(project)/\(site)"] = result
            }
        }
        return out
    }

    static func check(_ engine: SiteSync, site: String, project: String) async -> SiteHealthJSON {
        let at = Date()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await engine.checkSite(site, project: project) }
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    throw SiteSyncError(.unavailable, "no answer within 10 s")
                }
                try await group.next()
                group.cancelAll()
            }
            return SiteHealthJSON(checkedAt: at, ok: true, message: nil)
        } catch {
            return SiteHealthJSON(checkedAt: at, ok: false, message: "\(error)")
        }
    }
}
