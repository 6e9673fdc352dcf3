import Foundation
import SiteSyncModel

/// Where SiteSync keeps what it knows: settings, projects, representations, their files and one row per
/// file × site. The engine is the only writer of transfer state; every state change goes through here so
/// that leases, retries and alternates stay consistent whichever database backs it.
///
/// Every implementation must pass `CatalogConformance` (SiteSyncTestSupport).
public protocol Catalog: Sendable {
    // MARK: Settings and server flags
    func studioSettingsYAML() async throws -> String?
    func setStudioSettingsYAML(_ yaml: String) async throws
    func isServerPaused() async throws -> Bool
    func setServerPaused(_ paused: Bool) async throws

    // MARK: Projects
    /// Registers a project; does nothing if it exists.
    func addProject(_ name: String, now: Date) async throws
    func projects() async throws -> [ProjectRecord]
    func setProjectPaused(_ name: String, paused: Bool) async throws

    // MARK: Representations
    /// Stores a representation, its files and their initial site rows in one transaction.
    /// Throws `duplicateRepresentation` or `duplicatePath`.
    func insertRepresentation(_ representation: RepresentationRecord, files: [FileRecord],
                              sites: [String: FileSyncStatus], priority: Int, now: Date) async throws
    func representation(_ id: String) async throws -> RepresentationRecord?
    func representationID(for context: RepresentationContext) async throws -> String?
    func files(ofRepresentation id: String) async throws -> [FileRecord]
    func states(ofRepresentation id: String) async throws -> [FileSiteState]
    /// Per representation and site: counts by state. Filtered by project and/or site when given.
    func summaries(project: String?, site: String?) async throws -> [RepresentationSummary]

    // MARK: User operations
    /// Adds rows for `site` on every file of the representation: synced where a site of `group` (the site and
    /// its alternates) already has the file, else queued (paused if the representation is paused).
    /// Existing rows: `siteAlreadyPresent`, unless `force`, which queues them again.
    @discardableResult
    func addSite(representation id: String, site: String, group: Set<String>, priority: Int?, force: Bool,
                 now: Date) async throws -> Int
    /// Deletes the rows of `sites` (a site and its alternates: one physical copy). Refuses with `lastCopy` if a
    /// file would be left without a synced row elsewhere.
    func removeSites(representation id: String, sites: Set<String>) async throws
    /// Queues the site's rows again (tries 0, error cleared). Refuses with `lastCopy` where the site holds the
    /// only synced copy. Returns the number of rows reset.
    @discardableResult
    func resetSite(representation id: String, site: String, now: Date) async throws -> Int
    func setPriority(representation id: String, priority: Int) async throws
    /// Pauses queued and running rows (running transfers see it when they renew their lease), or resumes them.
    func setRepresentationPaused(_ id: String, paused: Bool, now: Date) async throws

    // MARK: Work
    /// Puts rows whose lease expired (a crashed or stalled server) back in the queue. Returns how many.
    func requeueExpiredLeases(now: Date) async throws -> Int
    /// Leases up to `limit` runnable transfers, highest priority first, then oldest.
    func claim(_ request: ClaimRequest) async throws -> [WorkItem]
    /// When the earliest transfer for this pair that is not runnable now becomes runnable: the end of a backoff,
    /// or of another server's lease (taken over if that server is gone). nil when nothing waits.
    func nextAttempt(source: String, target: String, projects: [String], after now: Date) async throws -> Date?
    /// Extends the leases `owner` still holds on running rows; returns those keys. A key missing from the
    /// answer was paused, reset, removed or taken over: its transfer must stop.
    func renewLeases(owner: String, keys: [FileKey], until: Date) async throws -> Set<FileKey>
    func reportProgress(_ key: FileKey, owner: String, bytesDone: Int64) async throws
    /// Marks the file synced on the target and on `alternates` (the same storage). False if the lease was lost.
    @discardableResult
    func completeTransfer(_ key: FileKey, owner: String, alternates: Set<String>, now: Date) async throws -> Bool
    /// Records a failed attempt. `retryAt` nil → failed for good; `countsAsTry` false for quota and shutdown.
    /// Returns the new status, or nil if the lease was lost.
    @discardableResult
    func failTransfer(_ key: FileKey, owner: String, error: String, retryAt: Date?, countsAsTry: Bool,
                      now: Date) async throws -> FileSyncStatus?
    /// Gives back leases without counting a try (shutdown, cancellation).
    func releaseLeases(owner: String, keys: [FileKey]?) async throws
    /// A number that grows whenever new work may have become runnable; servers poll it to start promptly.
    func workGeneration() async throws -> Int64
}
