import Foundation
import SiteSyncEngine

/// `workfile --json`: what was done and the file to open.
public struct WorkfileJSON: Codable, Sendable, Equatable {
    public var action: SiteSync.WorkfileResult.Action
    public var path: String?
    public var version: Int?
    public var published: RepresentationFields?
    public var inputs: [String]

    public init(_ r: SiteSync.WorkfileResult) {
        action = r.action
        path = r.path
        version = r.version
        published = r.published.map(RepresentationFields.init)
        inputs = r.inputs
    }

    enum CodingKeys: String, CodingKey { case action, path, version, published, inputs }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(action, forKey: .action)
        try c.encode(path, forKey: .path)
        try c.encode(version, forKey: .version)
        try c.encode(published, forKey: .published)
        try c.encode(inputs, forKey: .inputs)
    }
}

/// `ensure --json`: each representation's outcome on this machine's active site.
public struct EnsureJSON: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var id: String
        public var status: SiteSync.EnsureReport.Outcome
        public var reason: String?

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(status, forKey: .status)
            try c.encode(reason, forKey: .reason)
        }
        enum CodingKeys: String, CodingKey { case id, status, reason }
    }
    public var site: String
    public var representations: [Entry]
    public var ranTransfers: Bool
    public var synced: Bool

    enum CodingKeys: String, CodingKey {
        case site, representations, synced
        case ranTransfers = "ran_transfers"
    }

    public init(_ r: SiteSync.EnsureReport) {
        site = r.site
        representations = r.entries.map { Entry(id: $0.id, status: $0.outcome, reason: $0.reason) }
        ranTransfers = r.ranTransfers
        synced = r.allSynced
    }
}
