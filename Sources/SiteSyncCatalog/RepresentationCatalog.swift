import Foundation
import SiteSyncModel

/// Published representations, their files, one row per file × site, and what users do to them.
public protocol RepresentationCatalog: Sendable {
    /// Stores a representation, its files and their initial site rows in one transaction.
    /// Throws `duplicateRepresentation` or `duplicatePath`.
    func insertRepresentation(_ representation: RepresentationRecord, files: [FileRecord],
                              sites: [String: FileSyncStatus], priority: Int, now: Date) async throws
    func representation(_ id: String) async throws -> RepresentationRecord?
    func representationID(for context: RepresentationContext) async throws -> String?
    /// One page of a project's representations, filtered and sorted, with the number that match.
    func representations(matching query: RepresentationQuery) async throws -> RepresentationPage
    /// Ids starting with `prefix` (an abbreviated id, like git's), in order, at most `limit`.
    func representationIDs(withPrefix prefix: String, limit: Int) async throws -> [String]
    /// The newest representation of a product type in a folder (highest version, then newest publish), optionally of
    /// one task and host: the last published workfile.
    func latestRepresentation(project: String, folder: String, productType: String, task: String?,
                              host: String?) async throws -> RepresentationRecord?
    /// Every site name that has rows (copies or queued work) in the catalog: configured sites and machines' own.
    func knownSites() async throws -> Set<String>
    /// Which of these rootless paths a file of the project already has (publish checks before it copies).
    func takenPaths(project: String, paths: [String]) async throws -> [String]
    func files(ofRepresentation id: String) async throws -> [FileRecord]
    func states(ofRepresentation id: String) async throws -> [FileSiteState]
    /// One page of representations, in project, folder, product, version, name order, starting after `after`,
    /// each with its counts by site and state. Filtered by project and/or site when given. A page costs the same
    /// on a project of a hundred representations or of a million (keyset paging on the unique index).
    func summaries(project: String?, site: String?, after: RepresentationContext?, limit: Int) async throws -> [RepresentationSummary]

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

    /// The copies a verification reads: rows of `site` (every site if nil) that are synced, missing or corrupt,
    /// of one representation or project (or all), oldest verified first; at most `limit`.
    func copies(site: String?, project: String?, representation: String?, limit: Int?) async throws -> [CopyRecord]
    /// Records that a copy was read back and matched its hash.
    func markVerified(fileID: String, sites: Set<String>, now: Date) async throws
    /// Queues missing and corrupt copies again (tries 0), in the given scope. Returns how many.
    @discardableResult
    func requeueDamaged(site: String?, project: String?, representation: String?, now: Date) async throws -> Int
}

extension RepresentationCatalog {
    /// Every summary, page by page (small catalogs and tests; `status` streams pages instead).
    public func summaries(project: String?, site: String?) async throws -> [RepresentationSummary] {
        var out: [RepresentationSummary] = []
        var after: RepresentationContext?
        while true {
            let page = try await summaries(project: project, site: site, after: after, limit: 500)
            out += page
            guard page.count == 500, let last = page.last else { return out }
            after = last.representation.context
        }
    }
}

/// Where a page of summaries starts, as both catalogs query it: after `after` within `project`. The keyset
/// condition alone bounds where the index scan starts; the project is then only an upper bound (an equality on the
/// first column beside it would make the scan start at the project's first row and skip forward — a page deep in
/// a project of 100,000 representations read thousands of index entries).
public struct SummaryPageStart: Sendable, Equatable {
    public var after: RepresentationContext?
    /// The project is an upper bound only (`after` already lies in it), not an equality.
    public var projectIsUpperBound: Bool
    /// Nothing can follow: `after` lies beyond the project asked for.
    public var empty: Bool

    public init(project: String?, after: RepresentationContext?) {
        guard let project, let a = after else {
            self.after = after
            projectIsUpperBound = false
            empty = false
            return
        }
        if a.project == project {
            self.after = a
            projectIsUpperBound = true
            empty = false
        } else {
            // A start outside the project: before it means from its first row, after it means nothing.
            self.after = nil
            projectIsUpperBound = false
            empty = a.project > project
        }
    }
}

