import Foundation
import SiteSyncModel

/// The transfers waiting, leased and finished: what sync servers claim, renew, complete and fail. A lease
/// (owner + expiry) makes sure two servers never move the same file × site at once.
public protocol WorkQueue: Sendable {
    /// Puts rows whose lease expired (a crashed or stalled server) back in the queue, to run from `now`. Returns
    /// how many. Whose clock decides "expired" is the catalog's (the database's, for a shared one).
    func requeueExpiredLeases(now: Date) async throws -> Int
    /// Leases up to `limit` runnable transfers, highest priority first, then oldest.
    func claim(_ request: ClaimRequest) async throws -> [WorkItem]
    /// When the earliest transfer for this pair that is not runnable now becomes runnable: the end of a backoff,
    /// or of another server's lease (taken over if that server is gone). nil when nothing waits. `preferred` as in
    /// `ClaimRequest`.
    func nextAttempt(source: String, target: String, projects: [String], preferred: [String], representations: [String]?,
                     after now: Date) async throws -> Date?
    /// Which of these leases `owner` still holds (a read: cheap enough to ask on every change of the catalog, so a
    /// pause, reset or removal stops a running transfer at once).
    func leasesHeld(owner: String, keys: [FileKey]) async throws -> Set<FileKey>
    /// Extends the leases `owner` still holds on running rows to `until` (a catalog with its own clock extends them
    /// by `until - now` on it); returns those keys. A key missing from the answer was paused, reset, removed or
    /// taken over: its transfer must stop.
    func renewLeases(owner: String, keys: [FileKey], now: Date, until: Date) async throws -> Set<FileKey>
    func reportProgress(_ key: FileKey, owner: String, bytesDone: Int64) async throws
    /// Marks each file synced on its target and on its `alternates` (the same storage), in one transaction: a
    /// server finishing many small files records them together. Returns the keys recorded; one missing from the
    /// answer had lost its lease.
    func completeTransfers(_ completions: [TransferCompletion], owner: String, now: Date) async throws -> Set<FileKey>
    /// Records a failed attempt. `retryAt` nil → failed for good; `countsAsTry` false for quota and shutdown.
    /// Returns the new status, or nil if the lease was lost.
    @discardableResult
    func failTransfer(_ key: FileKey, owner: String, error: String, retryAt: Date?, countsAsTry: Bool,
                      now: Date) async throws -> FileSyncStatus?
    /// Marks the synced copies of a file on `sites` (a site and its alternates: one storage) as `missing` or
    /// `corrupt`, saying how it was found. They stop being sources and copies until healed. Returns rows changed.
    @discardableResult
    func markDamaged(fileID: String, sites: Set<String>, status: FileSyncStatus, problem: String, now: Date) async throws -> Int
    /// Gives back leases without counting a try (shutdown, cancellation).
    func releaseLeases(owner: String, keys: [FileKey]?) async throws
    /// A number that grows whenever new work may have become runnable; servers poll it to start promptly.
    func workGeneration() async throws -> Int64
}

/// One finished transfer to record: the copy and the sites that share its storage.
public struct TransferCompletion: Sendable, Hashable {
    public var key: FileKey
    public var alternates: Set<String>
    /// The identical file the copy was made from on the target (see `FileSiteState.madeFrom`).
    public var madeFrom: String?

    public init(_ key: FileKey, alternates: Set<String> = [], madeFrom: String? = nil) {
        self.key = key
        self.alternates = alternates
        self.madeFrom = madeFrom
    }
}

extension WorkQueue {
    /// Marks the file synced on the target and on `alternates` (the same storage). False if the lease was lost.
    @discardableResult
    public func completeTransfer(_ key: FileKey, owner: String, alternates: Set<String>, now: Date) async throws -> Bool {
        try await completeTransfers([TransferCompletion(key, alternates: alternates)], owner: owner, now: now).contains(key)
    }
}
