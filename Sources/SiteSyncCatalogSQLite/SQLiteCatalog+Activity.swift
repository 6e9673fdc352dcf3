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
            let columns = "\(Self.fileColumns), fs.site, fs.status, fs.bytes_done, fs.lease_owner, fs.lease_expires_at, fs.synced_at, fs.last_failure_at, fs.last_error"
            func date(_ row: Row, _ column: String) -> Date? {
                (row[column] as Double?).map(Date.init(timeIntervalSince1970:))
            }
            // Each query walks one partial index: leased rows, synced rows by time, failures by time.
            let running = try Row.fetchAll(db, sql: """
                SELECT \(columns) FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.status = \(SQLState.inProgress)\(scope) ORDER BY fs.lease_expires_at LIMIT 500
                """, arguments: StatementArguments(args)).map {
                RunningCopy(file: Self.file($0), site: $0["site"], bytesDone: $0["bytes_done"], owner: $0["lease_owner"],
                            leaseExpiresAt: date($0, "lease_expires_at"))
            }
            let synced = try Row.fetchAll(db, sql: """
                SELECT \(columns) FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.synced_at IS NOT NULL\(scope) ORDER BY fs.synced_at DESC LIMIT ?
                """, arguments: StatementArguments(args + [recent])).compactMap { row -> CopyOutcome? in
                guard let at = date(row, "synced_at") else { return nil }
                return CopyOutcome(file: Self.file(row), site: row["site"], synced: true, at: at, error: nil, status: row["status"])
            }
            let failed = try Row.fetchAll(db, sql: """
                SELECT \(columns) FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.last_failure_at IS NOT NULL\(scope) ORDER BY fs.last_failure_at DESC LIMIT ?
                """, arguments: StatementArguments(args + [recent])).compactMap { row -> CopyOutcome? in
                guard let at = date(row, "last_failure_at") else { return nil }
                return CopyOutcome(file: Self.file(row), site: row["site"], synced: false, at: at, error: row["last_error"], status: row["status"])
            }
            return CatalogActivity(running: running, recent: CopyOutcome.newest(synced, failed, limit: recent))
        }
    }
}
