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
            // A transfer still running to a removed site must notice at once.
            try Self.bumpGeneration(db)
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

    // MARK: Verification

    public func copies(site: String?, project: String?, representation: String?, limit: Int?) async throws -> [CopyRecord] {
        try await read { db in
            var filter = ["fs.status IN (?, ?, ?)"]
            var args: [(any DatabaseValueConvertible)?] = [FileSyncStatus.synced, FileSyncStatus.missing, FileSyncStatus.corrupt]
            if let site { filter.append("fs.site = ?"); args.append(site) }
            if let project { filter.append("fs.project = ?"); args.append(project) }
            if let representation { filter.append("fs.representation_id = ?"); args.append(representation) }
            var sql = """
                SELECT \(Self.stateColumns), \(Self.fileColumns)
                FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE \(filter.joined(separator: " AND "))
                ORDER BY COALESCE(fs.verified_at, 0), f.representation_id, f.position, fs.site
                """
            if let limit { sql += " LIMIT ?"; args.append(limit) }
            return try Array(Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args)).map { row in
                CopyRecord(file: Self.file(row, at: Self.stateColumnCount), state: Self.state(row))
            })
        }
    }

    public func markVerified(fileID: String, sites: Set<String>, now: Date) async throws {
        guard !sites.isEmpty else { return }
        try await write { db in
            let list = Array(sites)
            let marks = list.map { _ in "?" }.joined(separator: ",")
            try db.execute(sql: """
                UPDATE file_sites SET verified_at = ? WHERE file_id = ? AND site IN (\(marks))
                """, arguments: StatementArguments([now.timeIntervalSince1970, fileID] as [(any DatabaseValueConvertible)?] + list.map { $0 }))
            // A copy found damaged before and good now (restored by hand) is a copy again.
            try db.execute(sql: """
                UPDATE file_sites SET status = ?, problem = NULL, problem_at = NULL, synced_at = ?
                WHERE file_id = ? AND status IN (?, ?) AND site IN (\(marks))
                """, arguments: StatementArguments([FileSyncStatus.synced, now.timeIntervalSince1970, fileID,
                                                    FileSyncStatus.missing, FileSyncStatus.corrupt] as [(any DatabaseValueConvertible)?] + list.map { $0 }))
            if db.changesCount > 0 { try Self.bumpGeneration(db) }
        }
    }

    public func requeueDamaged(site: String?, project: String?, representation: String?, now: Date) async throws -> Int {
        try await write { db in
            var filter = ["status IN (?, ?)"]
            var args: [(any DatabaseValueConvertible)?] = [FileSyncStatus.queued, now.timeIntervalSince1970,
                                                           FileSyncStatus.missing, FileSyncStatus.corrupt]
            if let site { filter.append("site = ?"); args.append(site) }
            if let project { filter.append("project = ?"); args.append(project) }
            if let representation { filter.append("representation_id = ?"); args.append(representation) }
            try db.execute(sql: """
                UPDATE file_sites SET status = ?, tries = 0, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                    bytes_done = 0, synced_at = NULL
                WHERE \(filter.joined(separator: " AND "))
                """, arguments: StatementArguments(args))
            let n = db.changesCount
            if n > 0 { try Self.bumpGeneration(db) }
            return n
        }
    }
}
