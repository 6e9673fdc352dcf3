import Foundation
import SiteSyncCatalog
import SiteSyncEngine

/// `GET /activity` and each `/events` update: running transfers with their speed, and the latest outcomes.
public struct ActivityJSON: Codable, Sendable, Equatable {
    public struct Running: Codable, Sendable, Equatable {
        public var fileID: String
        public var representationID: String
        public var project: String
        public var path: String
        /// Known when this process runs the transfer; other servers' rows say only their target.
        public var source: String?
        public var target: String
        public var bytesDone: Int64
        public var size: Int64
        public var bytesPerSecond: Double?
        public var startedAt: Date?
        public var owner: String?

        enum CodingKeys: String, CodingKey {
            case path, source, target, size, owner, project
            case fileID = "file_id"
            case representationID = "representation_id"
            case bytesDone = "bytes_done"
            case bytesPerSecond = "bytes_per_second"
            case startedAt = "started_at"
        }
    }

    public struct Outcome: Codable, Sendable, Equatable {
        public var fileID: String
        public var representationID: String
        public var project: String
        public var path: String
        public var site: String
        /// `synced` or `failed`.
        public var outcome: String
        public var at: Date
        public var error: String?
        /// The row's state now.
        public var status: String

        enum CodingKeys: String, CodingKey {
            case path, site, outcome, at, error, status, project
            case fileID = "file_id"
            case representationID = "representation_id"
        }
    }

    public var at: Date
    public var running: [Running]
    public var recent: [Outcome]
    /// Sites this process's server cannot use now, and why (empty when no server runs here).
    public var unavailable: [String: String]
    /// Every transfer of every project is paused (`sitesync pause` without a project).
    public var serverPaused = false

    enum CodingKeys: String, CodingKey {
        case at, running, recent, unavailable
        case serverPaused = "server_paused"
    }

    /// `server`: this process's own transfers, which know their source, start and speed; `rates`: bytes per
    /// second of other servers' rows, measured between two looks.
    public init(_ activity: CatalogActivity, server: ServerProgress?, rates: [String: Double], now: Date) {
        let mine = Dictionary((server?.running ?? []).map { ("\($0.fileID)@\($0.target)", $0) }, uniquingKeysWith: { a, _ in a })
        at = now
        running = activity.running.map { r in
            let key = "\(r.file.id)@\(r.site)"
            let own = mine[key]
            let done = max(r.bytesDone, own?.bytesDone ?? 0)
            var rate = rates[key]
            if let own, now > own.startedAt { rate = Double(done) / now.timeIntervalSince(own.startedAt) }
            return Running(fileID: r.file.id, representationID: r.file.representationID, project: r.file.project, path: r.file.path,
                           source: own?.source, target: r.site, bytesDone: done, size: r.file.size, bytesPerSecond: rate,
                           startedAt: own?.startedAt, owner: r.owner)
        }
        recent = activity.recent.map {
            Outcome(fileID: $0.file.id, representationID: $0.file.representationID, project: $0.file.project, path: $0.file.path,
                    site: $0.site, outcome: $0.synced ? "synced" : "failed", at: $0.at, error: $0.error, status: $0.status.rawValue)
        }
        unavailable = server?.unavailable ?? [:]
    }
}
