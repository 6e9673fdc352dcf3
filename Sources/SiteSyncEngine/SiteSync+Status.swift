import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncProviders

extension SiteSync {
    public func status(project: String?, site: String?) async throws -> [RepresentationSummary] {
        var real: String?
        if let site { real = try await requireKnownSite(site) }
        if let project { _ = try await defaultProjectName(project) }
        return try await catalog.summaries(project: project, site: real)
    }

    public struct RepresentationDetail: Sendable {
        public var representation: RepresentationRecord
        public var files: [FileRecord]
        public var states: [FileSiteState]
    }

    public func show(_ id: String) async throws -> RepresentationDetail {
        guard let rep = try await catalog.representation(id) else { throw CatalogError.unknownRepresentation(id) }
        return RepresentationDetail(representation: rep, files: try await catalog.files(ofRepresentation: id),
                                    states: try await catalog.states(ofRepresentation: id))
    }
}
