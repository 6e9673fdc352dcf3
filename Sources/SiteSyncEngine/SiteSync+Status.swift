import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public func status(project: String?, site: String?) async throws -> [RepresentationSummary] {
        var out: [RepresentationSummary] = []
        try await status(project: project, site: site) { out += $0 }
        return out
    }

    /// Streams the status page by page (`pageSize` representations each): memory and time to the first line stay
    /// the same for a project of a hundred representations or of a million.
    public func status(project: String?, site: String?, pageSize: Int = 200, limit: Int? = nil,
                       page: ([RepresentationSummary]) throws -> Void) async throws {
        var real: String?
        if let site { real = try await requireKnownSite(site) }
        if let project { _ = try await defaultProjectName(project) }
        var after: RepresentationContext?
        var left = limit ?? Int.max
        while left > 0 {
            let size = min(pageSize, left)
            let summaries = try await catalog.summaries(project: project, site: real, after: after, limit: size)
            if !summaries.isEmpty { try page(summaries) }
            guard summaries.count == size, let last = summaries.last else { return }
            after = last.representation.context
            left -= summaries.count
        }
    }

    /// One page of a project's representations, filtered and sorted — the Sync Queue's table, the HTTP API's
    /// `representations`, `status --page`. The project defaults like `status`'s; a site may be `local`.
    public func queryRepresentations(_ query: RepresentationQuery) async throws -> RepresentationPage {
        var q = query
        q.project = try await defaultProjectName(query.project.isEmpty ? nil : query.project)
        guard q.page >= 1 else { throw SiteSyncError(.invalidInput, "page \(q.page): pages start at 1") }
        guard (1...RepresentationQuery.maxPageSize).contains(q.pageSize) else {
            throw SiteSyncError(.invalidInput, "page size \(q.pageSize): give 1 to \(RepresentationQuery.maxPageSize)")
        }
        // Past every row a catalog can hold: refused before page × size could overflow.
        guard q.page <= 1_000_000_000 / q.pageSize else {
            throw SiteSyncError(.invalidInput, "page \(q.page): past the end of any project (at most \(1_000_000_000 / q.pageSize) pages of \(q.pageSize))")
        }
        if let version = q.version, version < 1 { throw SiteSyncError(.invalidInput, "version \(version): versions start at 1") }
        if let site = q.site {
            q.site = try await requireKnownSite(site)
        } else if q.status != nil {
            throw SiteSyncError(.invalidInput, "a status filter needs a site: which site's status? (e.g. site studio and status failed: `--site studio --status failed`, `?site=studio&status=failed`)")
        }
        return try await catalog.representations(matching: q)
    }

    public struct RepresentationDetail: Sendable {
        public var representation: RepresentationRecord
        public var files: [FileRecord]
        public var states: [FileSiteState]
    }

    /// A representation's full id from the id or a unique prefix of it (8 characters or more, like git's).
    public func resolveRepresentationID(_ given: String) async throws -> String {
        let id = given.lowercased()
        if try await catalog.representation(id) != nil { return id }
        guard id.count >= 8 else {
            if try await catalog.representationIDs(withPrefix: id, limit: 1).isEmpty { throw CatalogError.unknownRepresentation(given) }
            throw SiteSyncError(.invalidInput, "'\(given)' is too short to name a representation: give at least 8 characters of its id")
        }
        let matches = try await catalog.representationIDs(withPrefix: id, limit: 4)
        switch matches.count {
        case 0: throw CatalogError.unknownRepresentation(given)
        case 1: return matches[0]
        default:
            throw SiteSyncError(.invalidInput, "'\(given)' is ambiguous: \(matches.count > 3 ? "more than 3" : String(matches.count)) representations start with it (\(matches.prefix(3).joined(separator: ", "))); give more characters")
        }
    }

    public func show(_ id: String) async throws -> RepresentationDetail {
        let id = try await resolveRepresentationID(id)
        guard let rep = try await catalog.representation(id) else { throw CatalogError.unknownRepresentation(id) }
        return RepresentationDetail(representation: rep, files: try await catalog.files(ofRepresentation: id),
                                    states: try await catalog.states(ofRepresentation: id))
    }
}

extension SiteSync {
    /// What every sync server is doing, from the catalog: running copies with the bytes their servers report, and
    /// the `recent` latest completions and failures (with reasons). A project named must exist.
    public func activity(project: String?, recent: Int = 100) async throws -> CatalogActivity {
        var projects: [String]?
        if let project { projects = [try await defaultProjectName(project)] }
        return try await catalog.activity(projects: projects, recent: max(0, min(recent, 1000)))
    }
}
