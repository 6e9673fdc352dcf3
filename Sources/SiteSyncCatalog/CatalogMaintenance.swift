import Foundation
import SiteSyncModel

/// What an administrator does to a catalog as a whole: read its health, and move it to another database
/// (`sitesync catalog check`, `sitesync catalog copy`). Never on a sync server's path.
public protocol CatalogMaintenance: Sendable {
    /// The schema version, what it holds and every file × site row counted by site and state; leases running and
    /// expired by the catalog's own clock (the database's, for a shared one). Reads every row: an admin command.
    func report(now: Date) async throws -> CatalogReport
    /// Up to `limit` representations in id order after `after`, each with everything kept about it.
    func exportRepresentations(after: String?, limit: Int) async throws -> [RepresentationExport]
    /// Stores exported representations as they were — paused flags, inputs, every state with its tries, errors and
    /// times — in one transaction. A leased row arrives queued without its lease (the lease belonged to a server
    /// of the old catalog). Their projects must exist.
    func importRepresentations(_ batch: [RepresentationExport]) async throws
}

/// One representation with its files (in their order) and every file × site row.
public struct RepresentationExport: Sendable, Equatable {
    public var representation: RepresentationRecord
    public var files: [FileRecord]
    public var states: [FileSiteState]

    public init(representation: RepresentationRecord, files: [FileRecord], states: [FileSiteState]) {
        self.representation = representation
        self.files = files
        self.states = states
    }
}

/// A catalog's health at a glance.
public struct CatalogReport: Sendable, Equatable {
    /// The database kind (`sqlite`, `postgresql`).
    public var kind: String
    /// The schema version the catalog has, and the one this build writes.
    public var schemaVersion: Int
    public var buildSchemaVersion: Int
    public var projects: Int
    public var representations: Int
    public var files: Int
    /// Site → state → number of files.
    public var states: [String: [FileSyncStatus: Int]]
    /// In progress under a lease that has not expired: transfers some server is running now.
    public var runningLeases: Int
    /// In progress under an expired lease: a server died or lost the catalog; the next claim puts them back.
    public var expiredLeases: Int
    /// The servers holding the running leases.
    public var leaseOwners: [String]
    public var serverPaused: Bool
    public var hasSettings: Bool

    public init(kind: String, schemaVersion: Int, buildSchemaVersion: Int, projects: Int, representations: Int, files: Int,
                states: [String: [FileSyncStatus: Int]], runningLeases: Int, expiredLeases: Int, leaseOwners: [String],
                serverPaused: Bool, hasSettings: Bool) {
        self.kind = kind
        self.schemaVersion = schemaVersion
        self.buildSchemaVersion = buildSchemaVersion
        self.projects = projects
        self.representations = representations
        self.files = files
        self.states = states
        self.runningLeases = runningLeases
        self.expiredLeases = expiredLeases
        self.leaseOwners = leaseOwners
        self.serverPaused = serverPaused
        self.hasSettings = hasSettings
    }

    /// Nothing in it: no settings, projects or representations (a target `catalog copy` accepts).
    public var isEmpty: Bool { !hasSettings && projects == 0 && representations == 0 && files == 0 }

    /// Rows in each state, every site together.
    public var totals: [FileSyncStatus: Int] {
        states.values.reduce(into: [:]) { sum, bySite in
            for (status, n) in bySite { sum[status, default: 0] += n }
        }
    }
}

extension FileSiteState {
    /// The row as another catalog receives it: a running transfer belonged to a server of the old catalog, so it
    /// waits in the queue again (at once), its lease and partial progress forgotten.
    public var importedIntoNewCatalog: FileSiteState {
        guard status == .inProgress else { return self }
        var s = self
        s.status = .queued
        s.leaseOwner = nil
        s.leaseExpiresAt = nil
        s.bytesDone = 0
        s.nextAttemptAt = .distantPast
        return s
    }
}
