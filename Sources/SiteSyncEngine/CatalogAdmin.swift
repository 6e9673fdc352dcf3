import Foundation
import SiteSyncCatalog
import SiteSyncModel

/// What an administrator does to a whole catalog: read its health (`catalog check`) and move a studio to another
/// catalog (`catalog copy`). Catalog-neutral: it speaks the catalog protocols only.
public enum CatalogAdmin {
    /// The catalog's schema, contents by site and state, and leases.
    public static func check(_ catalog: any Catalog, now: Date) async throws -> CatalogReport {
        try await catalog.report(now: now)
    }

    /// The source's report, if it can be copied now: no server may be running a transfer on it (its lease would
    /// be lost). Called before the target is touched, so a refused copy creates nothing.
    public static func checkCopySource(_ source: any Catalog, now: Date) async throws -> CatalogReport {
        let report = try await source.report(now: now)
        guard report.runningLeases == 0 else {
            throw SiteSyncError(.conflict, "\(report.runningLeases) transfer(s) are running on the source catalog (server \(report.leaseOwners.prefix(3).joined(separator: ", "))\(report.leaseOwners.count > 3 ? ", …" : "")); stop the sync servers using it and copy again — a server that was killed holds its transfers until its lease runs out (a minute by default)")
        }
        return report
    }

    public struct CopyResult: Sendable, Equatable {
        public var projects: Int
        public var representations: Int
        public var files: Int
        public var states: Int
        /// Rows that were in progress under an expired lease: they arrive queued.
        public var requeued: Int
    }

    /// Moves a studio from one catalog to another (SQLite → PostgreSQL, usually): settings, projects, pause flags,
    /// representations, files and every file × site state, then checks that the target counts what the source did.
    /// Refuses a target that holds anything, and a source some server is still
    /// transferring from (its leases would be lost): stop the servers first. `progress` hears the number of
    /// representations copied so far, after each page.
    public static func copy(from source: any Catalog, to target: any Catalog, now: Date, pageSize: Int = 500,
                           checkedSource: CatalogReport? = nil,
                           progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> CopyResult {
        let before: CatalogReport
        if let checkedSource { before = checkedSource } else { before = try await checkCopySource(source, now: now) }
        let existing = try await target.report(now: now)
        guard existing.isEmpty else {
            throw SiteSyncError(.conflict, "the target catalog is not empty (\(existing.projects) project(s), \(existing.representations) representation(s)\(existing.hasSettings ? ", studio settings" : "")); copy into a new, empty database")
        }

        // Settings and flags first: a project's representations need the project.
        if let yaml = try await source.studioSettingsYAML() {
            try await target.setStudioSettingsYAML(yaml)
        }
        let projects = try await source.projects()
        for project in projects {
            try await target.addProject(project.name, now: now)
            if project.paused { try await target.setProjectPaused(project.name, paused: true) }
        }
        if before.serverPaused { try await target.setServerPaused(true) }

        var copied = 0
        var after: String?
        while true {
            let page = try await source.exportRepresentations(after: after, limit: pageSize)
            guard let last = page.last else { break }
            try await target.importRepresentations(page)
            copied += page.count
            after = last.representation.id
            progress(copied, before.representations)
        }

        // The proof: the target counts, state by state and site by site, what the source had (in progress → queued).
        let after_ = try await target.report(now: now)
        var expected = before.states
        for (site, counts) in expected {
            guard let running = counts[.inProgress] else { continue }
            expected[site]?[.inProgress] = nil
            expected[site]?[.queued, default: 0] += running
        }
        guard after_.projects == before.projects, after_.representations == before.representations,
              after_.files == before.files, after_.states == expected else {
            throw SiteSyncError(.internal, "the copy does not match its source (source: \(before.representations) representations, \(before.files) files; target: \(after_.representations), \(after_.files)); the source is unchanged — drop the target database and copy again")
        }
        return CopyResult(projects: after_.projects, representations: after_.representations, files: after_.files,
                      states: after_.totals.values.reduce(0, +), requeued: before.expiredLeases)
    }
}
