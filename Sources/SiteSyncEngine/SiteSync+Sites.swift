import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public struct SiteInfo: Sendable {
        public var config: SiteConfig
        public var roles: [String]
        public var rootPaths: [String: String]
        public var alternates: [String]
        /// What its provider can do.
        public var capabilities: ProviderCapabilities
        /// Its settings with secrets hidden.
        public var shownOptions: ConfigValue
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
                            alternates: p.alternates.alternates(of: site.name).sorted(),
                            capabilities: registry.capabilities(of: site),
                            shownOptions: site.shownOptions(secretKeys: registry.secretKeys(of: site.provider)))
        }
    }

    public func checkSite(_ name: String, project: String?) async throws -> [String] {
        let p = try await self.project(try await defaultProjectName(project))
        let site = try p.site(name)
        let provider = try registry.make(site, platform: p.platform)
        return try await provider.check()
    }
}
