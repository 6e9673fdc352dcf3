import Foundation
import SiteSyncCatalog
import SiteSyncCatalogPostgres
import SiteSyncCatalogSQLite
import SiteSyncEngine
import Logging
import SiteSyncModel

/// Opens the catalog a location names: a plain path or `sqlite:PATH` is the embedded SQLite catalog;
/// `postgres://` (or `postgresql://`) is the studio catalog every machine shares.
/// A new catalog is one module and one case here.
public enum StandardCatalogs {
    public static func open(_ location: String, create: Bool) throws -> any Catalog {
        if let path = CatalogLocation.filePath(location) {
            if create {
                let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } catch {
                    throw SiteSyncError(.invalidInput, "cannot create the catalog's folder \(folder): \(error.localizedDescription)")
                }
            }
            return try SQLiteCatalog(path: path, create: create)
        }
        let scheme = location.components(separatedBy: "://").first ?? location
        if ["postgres", "postgresql"].contains(scheme.lowercased()) {
            return try PostgresCatalog(url: location, create: create)
        }
        throw SiteSyncError(.invalidInput, "catalog '\(CatalogLocation.redacted(location))': this build has no '\(scheme)' catalog; give a file path (or sqlite:PATH) or a postgres:// URL")
    }
}

/// The composition root: the engine over the catalog the environment names and every built-in provider.
public enum SiteSyncStandard {
    public static func open(_ environment: SiteSyncEnvironment, create: Bool = false,
                            logger: Logger = Logger(label: "sitesync")) throws -> SiteSync {
        let catalog = try StandardCatalogs.open(environment.catalogLocation, create: create)
        return try SiteSync(catalog: catalog, environment: environment, registry: StandardProviders.registry, logger: logger)
    }
}
