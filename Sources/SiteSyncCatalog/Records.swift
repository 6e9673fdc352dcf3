import Foundation
import SiteSyncModel

public struct ProjectRecord: Sendable, Equatable, Codable {
    public var name: String
    public var paused: Bool
    public init(name: String, paused: Bool) {
        self.name = name
        self.paused = paused
    }
}

public struct RepresentationRecord: Sendable, Equatable {
    public var id: String
    public var context: RepresentationContext
    public var createdAt: Date
    public var paused: Bool
    /// Representations this one was made from (a workfile's loaded inputs); downloaded with it.
    public var inputs: [String]

    public init(id: String, context: RepresentationContext, createdAt: Date, paused: Bool = false, inputs: [String] = []) {
        self.id = id
        self.context = context
        self.createdAt = createdAt
        self.paused = paused
        self.inputs = inputs
    }
}

public struct FileRecord: Sendable, Equatable {
    public var id: String
    public var representationID: String
    public var project: String
    /// Rootless: `{root[work]}/…`.
    public var path: String
    public var size: Int64
    /// Lower-case hex SHA-256 of the content, computed at publish.
    public var sha256: String

    public init(id: String, representationID: String, project: String, path: String, size: Int64, sha256: String) {
        self.id = id
        self.representationID = representationID
        self.project = project
        self.path = path
        self.size = size
        self.sha256 = sha256
    }
}

/// One file on one site.
public struct FileKey: Hashable, Sendable, CustomStringConvertible {
    public var fileID: String
    public var site: String
    public init(fileID: String, site: String) {
        self.fileID = fileID
        self.site = site
    }
    public var description: String { "\(fileID)@\(site)" }
}

/// The row kept for every file × site.
public struct FileSiteState: Sendable, Equatable {
    public var fileID: String
    public var site: String
    public var status: FileSyncStatus
    public var priority: Int
    public var tries: Int
    public var lastError: String?
    public var lastFailureAt: Date?
    public var nextAttemptAt: Date
    public var bytesDone: Int64
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var syncedAt: Date?
    /// When the copy was last read back and found to match its hash (`sitesync verify`).
    public var verifiedAt: Date?
    /// How a missing or corrupt copy was found (`verify: …`, `read by a transfer to …`), and when.
    public var problem: String?
    public var problemAt: Date?
    /// The file (rootless path) whose identical copy on this site the synced copy was made from, nothing being
    /// sent; nil for a copy whose bytes came from another site.
    public var madeFrom: String?

    public init(fileID: String, site: String, status: FileSyncStatus, priority: Int = 50, tries: Int = 0,
                lastError: String? = nil, lastFailureAt: Date? = nil, nextAttemptAt: Date = .distantPast,
                bytesDone: Int64 = 0, leaseOwner: String? = nil, leaseExpiresAt: Date? = nil, syncedAt: Date? = nil,
                verifiedAt: Date? = nil, problem: String? = nil, problemAt: Date? = nil, madeFrom: String? = nil) {
        self.fileID = fileID
        self.site = site
        self.status = status
        self.priority = priority
        self.tries = tries
        self.lastError = lastError
        self.lastFailureAt = lastFailureAt
        self.nextAttemptAt = nextAttemptAt
        self.bytesDone = bytesDone
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.syncedAt = syncedAt
        self.verifiedAt = verifiedAt
        self.problem = problem
        self.problemAt = problemAt
        self.madeFrom = madeFrom
    }
}

/// A representation's files on one site, counted by state.
public struct SiteSummary: Sendable, Equatable {
    public var site: String
    public var counts: [FileSyncStatus: Int]
    public var bytesSynced: Int64
    public var lastError: String?

    public init(site: String, counts: [FileSyncStatus: Int], bytesSynced: Int64, lastError: String?) {
        self.site = site
        self.counts = counts
        self.bytesSynced = bytesSynced
        self.lastError = lastError
    }

    public var status: RepresentationSiteStatus {
        RepresentationSiteStatus(files: counts.flatMap { Array(repeating: $0.key, count: $0.value) })
    }
}

public struct RepresentationSummary: Sendable, Equatable {
    public var representation: RepresentationRecord
    public var fileCount: Int
    public var totalBytes: Int64
    public var sites: [SiteSummary]

    public init(representation: RepresentationRecord, fileCount: Int, totalBytes: Int64, sites: [SiteSummary]) {
        self.representation = representation
        self.fileCount = fileCount
        self.totalBytes = totalBytes
        self.sites = sites
    }
}

/// "Give me up to `limit` files that `source` has and `target` wants, leased to `owner` until `leaseUntil`."
public struct ClaimRequest: Sendable {
    public var source: String
    public var target: String
    public var projects: [String]
    /// Sites read before `source`: files that one of them holds a synced copy of are left to them. Empty for a
    /// file's usual source; the usual source (and earlier fallbacks) when `source` is a fallback.
    public var preferred: [String]
    /// Only files of these representations (a launch hook's own transfers); nil → any.
    public var representations: [String]?
    public var owner: String
    public var now: Date
    public var leaseUntil: Date
    public var limit: Int
    /// Slots the claimed files may take together, each costing what `cost` says for its size; claiming stops at
    /// the first file (in priority order) that no longer fits, so a large file is never passed over by small ones
    /// behind it. nil: `limit` files, whatever their sizes.
    public var budget: ClaimBudget?

    public init(source: String, target: String, projects: [String], preferred: [String] = [],
                representations: [String]? = nil, owner: String, now: Date, leaseUntil: Date, limit: Int,
                budget: ClaimBudget? = nil) {
        self.source = source
        self.target = target
        self.projects = projects
        self.preferred = preferred
        self.representations = representations
        self.owner = owner
        self.now = now
        self.leaseUntil = leaseUntil
        self.limit = limit
        self.budget = budget
    }
}

/// What claimed files may cost together: small files take a fraction of a slot (many are in flight at once and
/// share their flushes), larger ones a whole slot.
public struct ClaimBudget: Sendable, Equatable {
    /// Units free for new work.
    public var units: Int
    /// Files of at most this many bytes are small.
    public var smallFileSize: Int64
    public var smallCost: Int
    public var largeCost: Int

    public init(units: Int, smallFileSize: Int64, smallCost: Int, largeCost: Int) {
        self.units = units
        self.smallFileSize = smallFileSize
        self.smallCost = max(1, smallCost)
        self.largeCost = max(1, largeCost)
    }

    public func cost(ofSize size: Int64) -> Int { size <= smallFileSize ? smallCost : largeCost }

    /// The files to take from candidates in claim order: each while the total still fits.
    public func fitting<T>(_ candidates: [T], size: (T) -> Int64) -> [T] {
        var spent = 0
        var taken: [T] = []
        for candidate in candidates {
            spent += cost(ofSize: size(candidate))
            guard spent <= units else { break }
            taken.append(candidate)
        }
        return taken
    }
}

/// One copy to check: a file and the row of the site that should hold it.
public struct CopyRecord: Sendable, Equatable {
    public var file: FileRecord
    public var state: FileSiteState
    public init(file: FileRecord, state: FileSiteState) {
        self.file = file
        self.state = state
    }
}

/// A claimed transfer of one file from `source` to `target`.
public struct WorkItem: Sendable, Equatable {
    public var file: FileRecord
    public var source: String
    public var target: String
    public var tries: Int
    public var priority: Int
    /// Another file of the project with the same content, already verified on the target: the copy can be made
    /// from it there instead of moving the bytes again.
    public var identical: IdenticalFile?

    public init(file: FileRecord, source: String, target: String, tries: Int, priority: Int, identical: IdenticalFile? = nil) {
        self.file = file
        self.source = source
        self.target = target
        self.tries = tries
        self.priority = priority
        self.identical = identical
    }

    public var key: FileKey { FileKey(fileID: file.id, site: target) }
}

/// A file with the same size and SHA-256 as the one to move (a republished texture, the same plate in two shots).
public struct IdenticalFile: Sendable, Equatable {
    public var fileID: String
    /// Rootless (`{root[work]}/…`).
    public var path: String

    public init(fileID: String, path: String) {
        self.fileID = fileID
        self.path = path
    }

    /// From the claim's `identical` column: the id, a space, the path (ids never hold a space).
    public init?(column: String?) {
        guard let column, let space = column.firstIndex(of: " ") else { return nil }
        self.init(fileID: String(column[..<space]), path: String(column[column.index(after: space)...]))
    }
}
