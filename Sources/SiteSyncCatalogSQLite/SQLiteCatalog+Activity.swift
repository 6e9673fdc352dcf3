import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

extension SQLiteCatalog {
    public func activity(projects: [String]?, recent: Int) async throws -> CatalogActivity {
        try await read { db in
            var scope = ""
            var args: [(any DatabaseValueConvertible)?] = []
            if let projects {
                guard !projects.isEmpty else { return CatalogActivity(running: [], recent: []) }
                scope = " AND fs.project IN (\(Array(repeating: "?", count: projects.count).joined(separator: ", ")))"
                args = projects
            }
            // Each query walks one partial index: leased rows, synced rows by time, failures by time.
            func rows(_ condition: String, _ order: String, limit: Int) throws -> [(FileRecord, FileSiteState)] {
                try Row.fetchAll(db, sql: """
                    SELECT \(Self.fileColumns), \(Self.stateColumns) FROM file_sites fs JOIN files f ON f.id = fs.file_id
                    WHERE \(condition)\(scope) ORDER BY \(order) LIMIT ?
                    """, arguments: StatementArguments(args + [limit])).map { (Self.file($0), Self.state($0, at: 6)) }
            }
            let running = try rows("fs.status = \(SQLState.inProgress)", "fs.lease_expires_at", limit: 500).map(RunningCopy.init)
            let synced = try rows("fs.synced_at IS NOT NULL", "fs.synced_at DESC", limit: recent).compactMap { CopyOutcome($0, $1, synced: true) }
            let failed = try rows("fs.last_failure_at IS NOT NULL", "fs.last_failure_at DESC", limit: recent)
                .compactMap { CopyOutcome($0, $1, synced: false) }
            return CatalogActivity(running: running, recent: CopyOutcome.newest(synced, failed, limit: recent))
        }
    }
}
