import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

extension PostgresCatalog {
    public func activity(projects: [String]?, recent: Int) async throws -> CatalogActivity {
        if projects?.isEmpty == true { return CatalogActivity(running: [], recent: []) }
        let every = projects == nil
        let list = projects ?? []
        // Each query walks one partial index: leased rows, synced rows by time, failures by time. `fs.*` with the
        // file's own columns is what `file` and `state` read.
        func rows(_ condition: String, _ order: String, limit: Int) async throws -> [(FileRecord, FileSiteState)] {
            try await self.rows("""
                SELECT fs.*, f.id, f.path, f.size, f.sha256 FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE \(unescaped: condition) AND (\(every) OR fs.project = ANY(\(list)))
                ORDER BY \(unescaped: order) LIMIT \(limit)
                """).map { (try Self.file($0), try Self.state($0)) }
        }
        let running = try await rows("fs.status = 'in_progress'", "fs.lease_expires_at", limit: 500).map(RunningCopy.init)
        let synced = try await rows("fs.synced_at IS NOT NULL", "fs.synced_at DESC", limit: recent).compactMap { CopyOutcome($0, $1, synced: true) }
        let failed = try await rows("fs.last_failure_at IS NOT NULL", "fs.last_failure_at DESC", limit: recent)
            .compactMap { CopyOutcome($0, $1, synced: false) }
        return CatalogActivity(running: running, recent: CopyOutcome.newest(synced, failed, limit: recent))
    }
}
