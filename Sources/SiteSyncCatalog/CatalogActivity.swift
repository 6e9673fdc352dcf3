import Foundation
import SiteSyncModel

/// What the sync servers are doing and have just done, as the catalog knows it: every server's running copies
/// (leased rows, with the bytes each server reports) and the latest outcomes. A web host that runs no transfers
/// sees the same as the server that runs them.
public struct CatalogActivity: Sendable, Equatable {
    public var running: [RunningCopy]
    /// Newest first.
    public var recent: [CopyOutcome]

    public init(running: [RunningCopy], recent: [CopyOutcome]) {
        self.running = running
        self.recent = recent
    }
}

/// A file × site row a server holds a lease on.
public struct RunningCopy: Sendable, Equatable {
    public var file: FileRecord
    /// The target site.
    public var site: String
    public var bytesDone: Int64
    public var owner: String?
    public var leaseExpiresAt: Date?

    public init(file: FileRecord, site: String, bytesDone: Int64, owner: String?, leaseExpiresAt: Date?) {
        self.file = file
        self.site = site
        self.bytesDone = bytesDone
        self.owner = owner
        self.leaseExpiresAt = leaseExpiresAt
    }

    /// A leased row as a catalog reads it.
    public init(_ file: FileRecord, _ state: FileSiteState) {
        self.init(file: file, site: state.site, bytesDone: state.bytesDone, owner: state.leaseOwner,
                  leaseExpiresAt: state.leaseExpiresAt)
    }
}

/// A copy that was completed, or an attempt that failed (with its reason).
public struct CopyOutcome: Sendable, Equatable {
    public var file: FileRecord
    public var site: String
    public var synced: Bool
    public var at: Date
    /// Why it failed; nil for a completion.
    public var error: String?
    /// The row's state now (a failure may since have been retried and synced).
    public var status: FileSyncStatus

    public init(file: FileRecord, site: String, synced: Bool, at: Date, error: String?, status: FileSyncStatus) {
        self.file = file
        self.site = site
        self.synced = synced
        self.at = at
        self.error = error
        self.status = status
    }

    /// A row's completion (`synced`) or last failure, as a catalog reads it; nil without that time.
    public init?(_ file: FileRecord, _ state: FileSiteState, synced: Bool) {
        guard let at = synced ? state.syncedAt : state.lastFailureAt else { return nil }
        self.init(file: file, site: state.site, synced: synced, at: at, error: synced ? nil : state.lastError, status: state.status)
    }

    /// Completions and failures of several queries, newest first, at most `limit`.
    public static func newest(_ lists: [CopyOutcome]..., limit: Int) -> [CopyOutcome] {
        Array(lists.joined().sorted { ($0.at, $0.file.path) > ($1.at, $1.file.path) }.prefix(limit))
    }
}

/// The activity role: read-only, cheap enough to ask every second (both queries run on partial indexes).
public protocol ActivityCatalog: Sendable {
    /// Running copies (at most 500) and the `recent` latest outcomes, of `projects` (nil: every project).
    func activity(projects: [String]?, recent: Int) async throws -> CatalogActivity
}
