import Foundation
import SiteSyncCatalog
import SiteSyncModel

/// `status --json`: `{"representations": [...]}`.
public struct StatusJSON: Codable, Sendable, Equatable {
    public var representations: [RepresentationSummaryJSON]

    public init(_ summaries: [RepresentationSummary]) {
        representations = summaries.map(RepresentationSummaryJSON.init)
    }
}

/// One representation with its state per site.
public struct RepresentationSummaryJSON: Codable, Sendable, Equatable {
    public var representation: RepresentationFields
    public var fileCount: Int
    public var size: Int64
    public var sites: [String: SiteSummaryJSON]

    enum CodingKeys: String, CodingKey {
        case fileCount = "file_count"
        case size, sites
    }

    public init(_ s: RepresentationSummary) {
        representation = RepresentationFields(s.representation)
        fileCount = s.fileCount
        size = s.totalBytes
        sites = Dictionary(uniqueKeysWithValues: s.sites.map { ($0.site, SiteSummaryJSON($0)) })
    }

    public init(from decoder: any Decoder) throws {
        representation = try RepresentationFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fileCount = try c.decode(Int.self, forKey: .fileCount)
        size = try c.decode(Int64.self, forKey: .size)
        sites = try c.decode([String: SiteSummaryJSON].self, forKey: .sites)
    }

    public func encode(to encoder: any Encoder) throws {
        try representation.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fileCount, forKey: .fileCount)
        try c.encode(size, forKey: .size)
        try c.encode(sites, forKey: .sites)
    }
}

/// A representation on one site: its derived state and its files counted by state.
public struct SiteSummaryJSON: Codable, Sendable, Equatable {
    public var status: RepresentationSiteStatus
    public var files: [String: Int]
    public var syncedBytes: Int64
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case status, files
        case syncedBytes = "synced_bytes"
        case lastError = "last_error"
    }

    public init(_ s: SiteSummary) {
        status = s.status
        // Every state, zeros too: a script reads `files.failed` without first asking whether the key is there.
        files = Dictionary(uniqueKeysWithValues: FileSyncStatus.allCases.map { ($0.rawValue, s.counts[$0] ?? 0) })
        syncedBytes = s.bytesSynced
        lastError = s.lastError
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(files, forKey: .files)
        try c.encode(syncedBytes, forKey: .syncedBytes)
        try c.encode(lastError, forKey: .lastError)
    }
}

/// A page of representations: `status --page … --json` and the HTTP API's `GET …/representations`.
public struct RepresentationPageJSON: Codable, Sendable, Equatable {
    public var items: [RepresentationSummaryJSON]
    public var total: Int
    public var page: Int
    public var pageSize: Int

    enum CodingKeys: String, CodingKey {
        case items, total, page
        case pageSize = "page_size"
    }

    public init(_ p: RepresentationPage) {
        items = p.items.map(RepresentationSummaryJSON.init)
        total = p.total
        page = p.page
        pageSize = p.pageSize
    }
}
