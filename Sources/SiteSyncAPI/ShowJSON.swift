import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

/// `show ID --json`: the representation, its state per site, and every file × site row.
public struct ShowJSON: Codable, Sendable, Equatable {
    public var representation: RepresentationFields
    public var siteStatus: [String: RepresentationSiteStatus]
    public var files: [FileDetailJSON]

    enum CodingKeys: String, CodingKey {
        case siteStatus = "site_status"
        case files
    }

    public init(_ d: SiteSync.RepresentationDetail) {
        representation = RepresentationFields(d.representation)
        siteStatus = Dictionary(grouping: d.states, by: \.site).mapValues { RepresentationSiteStatus(files: $0.map(\.status)) }
        let byFile = Dictionary(grouping: d.states, by: \.fileID)
        files = d.files.map { f in
            FileDetailJSON(file: FileJSON(f), sites: Dictionary(uniqueKeysWithValues: (byFile[f.id] ?? []).map { ($0.site, FileSiteJSON($0)) }))
        }
    }

    public init(from decoder: any Decoder) throws {
        representation = try RepresentationFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        siteStatus = try c.decode([String: RepresentationSiteStatus].self, forKey: .siteStatus)
        files = try c.decode([FileDetailJSON].self, forKey: .files)
    }

    public func encode(to encoder: any Encoder) throws {
        try representation.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(siteStatus, forKey: .siteStatus)
        try c.encode(files, forKey: .files)
    }
}

public struct FileDetailJSON: Codable, Sendable, Equatable {
    public var file: FileJSON
    public var sites: [String: FileSiteJSON]

    enum CodingKeys: String, CodingKey { case sites }

    public init(file: FileJSON, sites: [String: FileSiteJSON]) {
        self.file = file
        self.sites = sites
    }

    public init(from decoder: any Decoder) throws {
        file = try FileJSON(from: decoder)
        sites = try decoder.container(keyedBy: CodingKeys.self).decode([String: FileSiteJSON].self, forKey: .sites)
    }

    public func encode(to encoder: any Encoder) throws {
        try file.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sites, forKey: .sites)
    }
}

/// One file on one site.
public struct FileSiteJSON: Codable, Sendable, Equatable {
    public var status: FileSyncStatus
    public var priority: Int
    public var tries: Int
    public var lastError: String?
    public var lastFailureAt: Date?
    public var nextAttemptAt: Date
    public var bytesDone: Int64
    public var leaseOwner: String?
    public var syncedAt: Date?
    public var verifiedAt: Date?
    public var problem: String?
    public var problemAt: Date?
    /// The identical file (rootless path) this copy was made from on the site; nothing was sent for it.
    public var madeFrom: String?

    enum CodingKeys: String, CodingKey {
        case status, priority, tries
        case lastError = "last_error"
        case lastFailureAt = "last_failure_at"
        case nextAttemptAt = "next_attempt_at"
        case bytesDone = "bytes_done"
        case leaseOwner = "lease_owner"
        case syncedAt = "synced_at"
        case verifiedAt = "verified_at"
        case problem
        case problemAt = "problem_at"
        case madeFrom = "made_from"
    }

    public init(_ s: FileSiteState) {
        status = s.status
        priority = s.priority
        tries = s.tries
        lastError = s.lastError
        lastFailureAt = s.lastFailureAt
        nextAttemptAt = s.nextAttemptAt
        bytesDone = s.bytesDone
        leaseOwner = s.leaseOwner
        syncedAt = s.syncedAt
        verifiedAt = s.verifiedAt
        problem = s.problem
        problemAt = s.problemAt
        madeFrom = s.madeFrom
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(priority, forKey: .priority)
        try c.encode(tries, forKey: .tries)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(lastFailureAt, forKey: .lastFailureAt)
        try c.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try c.encode(bytesDone, forKey: .bytesDone)
        try c.encode(leaseOwner, forKey: .leaseOwner)
        try c.encode(syncedAt, forKey: .syncedAt)
        try c.encode(verifiedAt, forKey: .verifiedAt)
        try c.encode(problem, forKey: .problem)
        try c.encode(problemAt, forKey: .problemAt)
        // Present only for a copy made on its site: 40,000 rows of `null` would cost a large `show --json` time.
        try c.encodeIfPresent(madeFrom, forKey: .madeFrom)
    }
}
