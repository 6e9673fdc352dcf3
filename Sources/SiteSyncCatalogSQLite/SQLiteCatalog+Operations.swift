import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// What users do to representations: add and remove sites, reset, priority, pause.
extension SQLiteCatalog {
    // MARK: User operations

    static func requireRepresentation(_ db: Database, _ id: String) throws -> Row {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM representations WHERE id = ?", arguments: [id]) else {
            throw CatalogError.unknownRepresentation(id)
        }
        return row
    }

    public func addSite(representation id: String, site: String, group: Set<String>, priority: Int?, force: Bool,
                        now: Date) async throws -> Int {
        try await write { db in
            let rep = try Self.requireRepresentation(db, id)
            let paused: Bool = rep["paused"]
            let files = try Row.fetchAll(db, sql: "SELECT id, project, path FROM files WHERE representation_id = ?",
                                         arguments: [id])
            let existing = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file_sites WHERE representation_id = ? AND site = ?",
                                            arguments: [id, site]) ?? 0
            if existing > 0 && !force { throw CatalogError.siteAlreadyPresent(site: site, representationID: id) }
            let alternates = Array(group.subtracting([site]))
            let t = now.timeIntervalSince1970
            var changed = 0
            for file in files {
                let fileID: String = file["id"]
                let onAlternate = alternates.isEmpty ? false : try Bool.fetchOne(db, sql: """
                    SELECT 1 FROM file_sites WHERE file_id = ? AND status = \(SQLState.synced) AND site IN (\(alternates.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments([fileID] + alternates)) != nil
                let status: FileSyncStatus = onAlternate ? .synced : (paused ? .paused : .queued)
                if let current = try Row.fetchOne(db, sql: "SELECT status FROM file_sites WHERE file_id = ? AND site = ?",
                                                  arguments: [fileID, site]) {
                    let currentStatus: FileSyncStatus? = current["status"]
                    if currentStatus == .synced && !onAlternate {
                        // Forcing a synced copy to sync again must not drop the last verified copy.
                        try Self.requireOtherCopy(db, fileID: fileID, excluding: group, site: site)
                    }
                    try db.execute(sql: """
                        UPDATE file_sites SET status = ?, tries = 0, last_error = NULL, last_failure_at = NULL,
                            next_attempt_at = ?, bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL,
                            synced_at = ?, priority = COALESCE(?, priority)
                        WHERE file_id = ? AND site = ?
                        """, arguments: [status, t, status == .synced ? t : nil, priority, fileID, site])
                } else {
                    try db.execute(sql: """
                        INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [fileID, site, id, file["project"] as String, status, priority ?? 50, t,
                                         status == .synced ? t : nil])
                }
                changed += 1
            }
            try Self.bumpGeneration(db)
            return changed
        }
    }

    static func requireOtherCopy(_ db: Database, fileID: String, excluding group: Set<String>, site: String) throws {
        let excluded = Array(group.union([site]))
        let other = try Bool.fetchOne(db, sql: """
            SELECT 1 FROM file_sites WHERE file_id = ? AND status = \(SQLState.synced)
              AND site NOT IN (\(excluded.map { _ in "?" }.joined(separator: ",")))
            """, arguments: StatementArguments([fileID] + excluded)) != nil
        if !other {
            let path = try String.fetchOne(db, sql: "SELECT path FROM files WHERE id = ?", arguments: [fileID]) ?? fileID
            throw CatalogError.lastCopy(site: site, path: path)
        }
    }

    public func removeSites(representation id: String, sites: Set<String>) async throws {
        try await write { db in
            _ = try Self.requireRepresentation(db, id)
            let list = Array(sites)
            let marks = list.map { _ in "?" }.joined(separator: ",")
            let present = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM file_sites WHERE representation_id = ? AND site IN (\(marks))",
                                           arguments: StatementArguments([id] + list)) ?? 0
            guard present > 0 else {
                throw CatalogError.siteNotPresent(site: list.sorted().joined(separator: ", "), representationID: id)
            }
            let synced = try String.fetchAll(db, sql: """
                SELECT DISTINCT file_id FROM file_sites WHERE representation_id = ? AND status = \(SQLState.synced) AND site IN (\(marks))
                """, arguments: StatementArguments([id] + list))
            for fileID in synced {
                try Self.requireOtherCopy(db, fileID: fileID, excluding: sites, site: list.sorted().joined(separator: "+"))
            }
            try db.execute(sql: "DELETE FROM file_sites WHERE representation_id = ? AND site IN (\(marks))",
                           arguments: StatementArguments([id] + list))
        }
    }

    public func resetSite(representation id: String, site: String, now: Date) async throws -> Int {
        try await write { db in
            let rep = try Self.requireRepresentation(db, id)
            let paused: Bool = rep["paused"]
            let rows = try String.fetchAll(db, sql: "SELECT file_id FROM file_sites WHERE representation_id = ? AND site = ? AND status = \(SQLState.synced)",
                                           arguments: [id, site])
            for fileID in rows { try Self.requireOtherCopy(db, fileID: fileID, excluding: [], site: site) }
            try db.execute(sql: """
                UPDATE file_sites SET status = ?, tries = 0, last_error = NULL, last_failure_at = NULL, next_attempt_at = ?,
                    bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL, synced_at = NULL
                WHERE representation_id = ? AND site = ?
                """, arguments: [paused ? FileSyncStatus.paused : FileSyncStatus.queued, now.timeIntervalSince1970, id, site])
            let n = db.changesCount
            guard n > 0 else { throw CatalogError.siteNotPresent(site: site, representationID: id) }
            try Self.bumpGeneration(db)
            return n
        }
    }

    public func setPriority(representation id: String, priority: Int) async throws {
        try await write { db in
            _ = try Self.requireRepresentation(db, id)
            try db.execute(sql: "UPDATE file_sites SET priority = ? WHERE representation_id = ?", arguments: [priority, id])
            try Self.bumpGeneration(db)
        }
    }

    public func setRepresentationPaused(_ id: String, paused: Bool, now: Date) async throws {
        try await write { db in
            _ = try Self.requireRepresentation(db, id)
            try db.execute(sql: "UPDATE representations SET paused = ? WHERE id = ?", arguments: [paused, id])
            if paused {
                try db.execute(sql: """
                    UPDATE file_sites SET status = \(SQLState.paused), lease_owner = NULL, lease_expires_at = NULL
                    WHERE representation_id = ? AND status IN (\(SQLState.queued), \(SQLState.inProgress))
                    """, arguments: [id])
            } else {
                try db.execute(sql: """
                    UPDATE file_sites SET status = \(SQLState.queued), next_attempt_at = ?
                    WHERE representation_id = ? AND status = \(SQLState.paused)
                    """, arguments: [now.timeIntervalSince1970, id])
            }
            try Self.bumpGeneration(db)
        }
    }
}
