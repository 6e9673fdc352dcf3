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
        return try await check(provider, site: site.name)
    }

    /// The provider's check, within `siteCheckTimeout`: a server that accepted the connection and never answers
    /// makes the site unavailable instead of holding up the caller (a server loop, `site check`, a publish).
    func check(_ provider: any StorageProvider, site: String) async throws -> [String] {
        let seconds = environment.siteCheckTimeout
        return try await withDeadline(seconds, late: {
            ProviderError(.unavailable, "site '\(site)' did not answer within \(ByteCount.decimal(seconds, places: 0)) s (it may accept connections and never reply); check that its server is up and its address is right")
        }) { try await provider.check() }
    }
}
