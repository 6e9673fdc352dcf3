import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

/// The fields every representation carries in JSON (`publish --json`, `status --json`, `show --json`).
/// Absent values are `null`, never left out.
public struct RepresentationFields: Codable, Sendable, Equatable {
    public var id: String
    public var project: String
    public var folder: String
    public var product: String
    public var version: Int
    public var name: String
    public var task: String?
    public var host: String?
    public var productType: String
    public var createdAt: Date
    public var paused: Bool
    public var inputs: [String]

    enum CodingKeys: String, CodingKey {
        case id, project, folder, product, version, name, task, host, paused, inputs
        case createdAt = "created_at"
        case productType = "product_type"
    }

    public init(_ r: RepresentationRecord) {
        let c = r.context
        id = r.id
        project = c.project
        folder = c.folder
        product = c.product
        version = c.version
        name = c.name
        task = c.task
        host = c.host
        productType = c.effectiveProductType
        createdAt = r.createdAt
        paused = r.paused
        inputs = r.inputs
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(project, forKey: .project)
        try c.encode(folder, forKey: .folder)
        try c.encode(product, forKey: .product)
        try c.encode(version, forKey: .version)
        try c.encode(name, forKey: .name)
        try c.encode(task, forKey: .task)
        try c.encode(host, forKey: .host)
        try c.encode(productType, forKey: .productType)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(paused, forKey: .paused)
        try c.encode(inputs, forKey: .inputs)
    }
}

public struct FileJSON: Codable, Sendable, Equatable {
    public var id: String
    /// Rootless: `{root[work]}/…`.
    public var path: String
    public var size: Int64
    public var sha256: String

    public init(_ f: FileRecord) {
        id = f.id
        path = f.path
        size = f.size
        sha256 = f.sha256
    }
}

/// `publish --json`: the representation, its files, and each site's state.
public struct PublishJSON: Codable, Sendable, Equatable {
    public var representation: RepresentationFields
    public var files: [FileJSON]
    public var sites: [String: FileSyncStatus]

    enum CodingKeys: String, CodingKey { case files, sites }

    public init(_ result: SiteSync.PublishResult) {
        representation = RepresentationFields(result.representation)
        files = result.files.map(FileJSON.init)
        sites = result.sites
    }

    public init(from decoder: any Decoder) throws {
        representation = try RepresentationFields(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        files = try c.decode([FileJSON].self, forKey: .files)
        sites = try c.decode([String: FileSyncStatus].self, forKey: .sites)
    }

    public func encode(to encoder: any Encoder) throws {
        try representation.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(files, forKey: .files)
        try c.encode(sites, forKey: .sites)
    }
}
