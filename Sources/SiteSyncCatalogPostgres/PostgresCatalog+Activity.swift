import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

extension PostgresCatalog {
    public func activity(projects: [String]?, recent: Int) async throws -> CatalogActivity {
        if projects?.isEmpty == true { return CatalogActivity(running: [], recent: []) }
        let every = projects == nil
        let list = projects ?? []
        // Each query walks one partial index: leased rows, synced rows by time, failures by time.
        let running = try await rows("""
            SELECT f.id, f.representation_id, f.project, f.path, f.size, f.sha256, fs.site, fs.status, fs.bytes_done,
                   fs.lease_owner, fs.lease_expires_at
            FROM file_sites fs JOIN files f ON f.id = fs.file_id
            WHERE fs.status = 'in_progress' AND (\(every) OR fs.project = ANY(\(list)))
            ORDER BY fs.lease_expires_at LIMIT 500
            """).map {
            RunningCopy(file: try Self.file($0), site: try $0["site"].decode(String.self), bytesDone: try $0["bytes_done"].decode(Int64.self),
                        owner: try $0["lease_owner"].decode(String?.self), leaseExpiresAt: try $0.date("lease_expires_at"))
        }
        func outcomes(_ column: String, synced: Bool) async throws -> [CopyOutcome] {
            try await rows(PostgresQuery(unsafeSQL: """
                SELECT f.id, f.representation_id, f.project, f.path, f.size, f.sha256, fs.site, fs.status, fs.last_error,
                       fs.\(column) AS at
                FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.\(column) IS NOT NULL AND ($1 OR fs.project = ANY($2))
                ORDER BY fs.\(column) DESC LIMIT $3
                """, binds: try Self.binds(every, list, recent))).compactMap { r -> CopyOutcome? in
                guard let at = try r.date("at") else { return nil }
                let status = FileSyncStatus(rawValue: try r["status"].decode(String.self)) ?? .queued
                return CopyOutcome(file: try Self.file(r), site: try r["site"].decode(String.self), synced: synced, at: at,
                                   error: synced ? nil : try r["last_error"].decode(String?.self), status: status)
            }
        }
        return CatalogActivity(running: running,
                               recent: CopyOutcome.newest(try await outcomes("synced_at", synced: true),
                                                          try await outcomes("last_failure_at", synced: false), limit: recent))
    }

    static func binds(_ every: Bool, _ list: [String], _ limit: Int) throws -> PostgresBindings {
        var b = PostgresBindings()
        b.append(every)
        b.append(list)
        b.append(limit)
        return b
    }
}
