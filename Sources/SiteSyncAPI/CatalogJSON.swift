import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

/// `catalog check --json`: the catalog's schema, what it holds, every site's files by state, and its leases.
public struct CatalogCheckJSON: Codable, Sendable, Equatable {
    /// The location, with any password shown as `***`.
    public var catalog: String
    public var kind: String
    public var schemaVersion: Int
    public var buildSchemaVersion: Int
    public var projects: Int
    public var representations: Int
    public var files: Int
    /// Site → state → files.
    public var sites: [String: [String: Int]]
    public var leases: Leases
    public var serverPaused: Bool
    public var studioSettings: Bool

    public struct Leases: Codable, Sendable, Equatable {
        public var running: Int
        public var expired: Int
        public var owners: [String]
    }

    enum CodingKeys: String, CodingKey {
        case catalog, kind, projects, representations, files, sites, leases
        case schemaVersion = "schema_version"
        case buildSchemaVersion = "build_schema_version"
        case serverPaused = "server_paused"
        case studioSettings = "studio_settings"
    }

    public init(location: String, _ r: CatalogReport) {
        catalog = location
        kind = r.kind
        schemaVersion = r.schemaVersion
        buildSchemaVersion = r.buildSchemaVersion
        projects = r.projects
        representations = r.representations
        files = r.files
        sites = r.states.mapValues { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.rawValue, $0.value) }) }
        leases = Leases(running: r.runningLeases, expired: r.expiredLeases, owners: r.leaseOwners)
        serverPaused = r.serverPaused
        studioSettings = r.hasSettings
    }
}

/// `catalog copy --json`: what was copied, from where to where.
public struct CatalogCopyJSON: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var projects: Int
    public var representations: Int
    public var files: Int
    /// File × site rows.
    public var states: Int
    /// Rows that were in progress under an expired lease, queued again in the target.
    public var requeued: Int

    public init(from: String, to: String, _ r: CatalogAdmin.CopyResult) {
        self.from = from
        self.to = to
        projects = r.projects
        representations = r.representations
        files = r.files
        states = r.states
        requeued = r.requeued
    }
}
