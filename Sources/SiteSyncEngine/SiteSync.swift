import Foundation
import Logging
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

/// The engine's front door. The CLI and the HTTP API call these methods and nothing below them.
///
/// It knows catalogs and providers only by their protocols: the composition root (`SiteSyncStandard`) builds the
/// concrete ones and hands them in.
public final class SiteSync: Sendable {
    public let catalog: any Catalog
    public let environment: SiteSyncEnvironment
    public let localStore: LocalSettingsStore
    public let siteID: String
    public let registry: ProviderRegistry
    let logger: Logger
    /// Where the server's counters go (Prometheus, when the composition root wires it).
    public let metrics: SyncMetrics

    public init(catalog: any Catalog, environment: SiteSyncEnvironment, registry: ProviderRegistry,
                logger: Logger = Logger(label: "sitesync"), metrics: SyncMetrics = SyncMetrics()) throws {
        self.metrics = metrics
        self.catalog = catalog
        self.environment = environment
        self.localStore = LocalSettingsStore(path: environment.localSettingsPath)
        self.siteID = try localStore.siteID(override: environment.siteIDOverride)
        self.registry = registry
        self.logger = logger
    }

    var clock: any WallClock { environment.clock }
    func now() -> Date { environment.clock.now() }

    /// Checks studio settings against every provider this build has.
    public var validator: SettingsValidator { registry.validator }

    public func studioSettings() async throws -> StudioSettings {
        guard let yaml = try await catalog.studioSettingsYAML() else { return StudioSettings() }
        return try StudioSettings(yaml: yaml, source: "studio settings in the catalog")
    }

    public func context() async throws -> SettingsContext {
        try settingsContext(studio: try await studioSettings(), local: try await localStore.loadOffPool().settings)
    }

    /// Settings as this machine sees them; refuses a site id that names a configured site.
    func settingsContext(studio: StudioSettings, local: LocalSettings) throws -> SettingsContext {
        if studio.siteDefinitions.keys.contains(where: { $0.lowercased() == siteID.lowercased() }) {
            throw SettingsError("site id", "this machine's site id '\(siteID)' is also the name of a configured site: its copies would be mistaken for that site's; give this machine another id (SITESYNC_SITE_ID or site_id in \(localStore.path))")
        }
        return SettingsContext(studio: studio, local: local, siteID: siteID)
    }

    public func project(_ name: String) async throws -> EffectiveProject {
        try await context().project(name)
    }

    /// With no project named: the only project, else the `default` settings. A project named must exist.
    public func defaultProjectName(_ project: String?) async throws -> String {
        let all = try await catalog.projects()
        if let project {
            guard project == Names.defaultProject || all.contains(where: { $0.name == project }) else {
                throw CatalogError.unknownProject(project)
            }
            return project
        }
        return all.count == 1 ? all[0].name : Names.defaultProject
    }

    func requireRepresentation(_ id: String) async throws -> (RepresentationRecord, EffectiveProject) {
        guard let rep = try await catalog.representation(id) else { throw CatalogError.unknownRepresentation(id) }
        return (rep, try await project(rep.context.project))
    }

    /// A site named on the command line must be one this catalog knows: configured, or a machine's own site.
    public func requireKnownSite(_ name: String) async throws -> String {
        let real = name == Names.localAlias ? siteID : name
        if real == siteID || real == Names.studio { return real }
        let configured = Set(try await studioSettings().siteDefinitions.keys)
        let known = configured.union(try await catalog.knownSites())
        guard known.contains(real) else {
            throw SiteSyncError(.notFound, "no site '\(name)' (configured: \(configured.union([Names.studio]).sorted().joined(separator: ", ")); `local` is this machine's)")
        }
        return real
    }

    /// What the site's provider can do (the engine decides how to move files from this, never from names).
    func capabilities(of site: SiteConfig) -> ProviderCapabilities {
        registry.capabilities(of: site)
    }
}
