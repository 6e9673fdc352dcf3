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
        guard !location.trimmingCharacters(in: .whitespaces).isEmpty, location != "sqlite:" else {
            throw SiteSyncError(.invalidInput, "the catalog location is empty; give a file path (or sqlite:PATH) or a postgres://USER@HOST:PORT/DB URL")
        }
        if let path = CatalogLocation.filePath(location) {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                throw SiteSyncError(.invalidInput, "catalog \(path) is a folder; give the catalog file inside it (e.g. \(path)/catalog.sqlite)")
            }
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
        guard location.contains("://") else {
            throw SiteSyncError(.invalidInput, "catalog '\(CatalogLocation.redacted(location))' is neither a file path nor a URL; write postgres://USER@HOST:PORT/DB (two slashes) or a file path")
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
                            logger: Logger = Logger(label: "sitesync"), metrics: SyncMetrics = SyncMetrics()) throws -> SiteSync {
        let catalog = try StandardCatalogs.open(environment.catalogLocation, create: create)
        return try SiteSync(catalog: catalog, environment: environment, registry: StandardProviders.registry, logger: logger,
                            metrics: metrics)
    }
}
