import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// Published representations, their files and states, and the status summaries.
extension SQLiteCatalog {
    // MARK: Representations

    public func insertRepresentation(_ rep: RepresentationRecord, files: [FileRecord],
                                     sites: [String: FileSyncStatus], priority: Int, now: Date) async throws {
        try await write { db in
            let c = rep.context
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM projects WHERE name = ?", arguments: [c.project]) != nil else {
                throw CatalogError.unknownProject(c.project)
            }
            if let existing = try String.fetchOne(db, sql: """
                SELECT id FROM representations WHERE project = ? AND folder = ? AND product = ? AND version = ? AND name = ?
                """, arguments: [c.project, c.folder, c.product, c.version, c.name]) {
                throw CatalogError.duplicateRepresentation(existingID: existing, c)
            }
            try db.execute(sql: """
                INSERT INTO representations(id, project, folder, product, version, name, task, host, created_at, paused)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [rep.id, c.project, c.folder, c.product, c.version, c.name, c.task, c.host,
                                 rep.createdAt.timeIntervalSince1970, rep.paused])
            for input in rep.inputs {
                try db.execute(sql: "INSERT OR IGNORE INTO representation_inputs(representation_id, input_id) VALUES (?, ?)",
                               arguments: [rep.id, input])
            }
            let t = now.timeIntervalSince1970
            for (position, file) in files.enumerated() {
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM files WHERE project = ? AND path = ?",
                                     arguments: [file.project, file.path]) != nil {
                    throw CatalogError.duplicatePath(file.path)
                }
                try db.execute(sql: """
                    INSERT INTO files(id, representation_id, project, position, path, size, sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [file.id, rep.id, file.project, position, file.path, file.size, file.sha256])
                for (site, status) in sites {
                    try db.execute(sql: """
                        INSERT INTO file_sites(file_id, site, representation_id, project, status, priority,
                                               next_attempt_at, synced_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [file.id, site, rep.id, file.project, status, priority, t,
                                         status == .synced ? t : nil])
                }
            }
            try Self.bumpGeneration(db)
        }
    }

    static func representation(_ row: Row, inputs: [String]) -> RepresentationRecord {
        RepresentationRecord(
            id: row["id"],
            context: RepresentationContext(project: row["project"], folder: row["folder"], product: row["product"],
                                           version: row["version"], name: row["name"], task: row["task"], host: row["host"]),
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            paused: row["paused"], inputs: inputs)
    }

    public func representation(_ id: String) async throws -> RepresentationRecord? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM representations WHERE id = ?", arguments: [id]) else {
                return nil
            }
            let inputs = try String.fetchAll(db, sql: """
                SELECT input_id FROM representation_inputs WHERE representation_id = ? ORDER BY input_id
                """, arguments: [id])
            return Self.representation(row, inputs: inputs)
        }
    }

    public func representationID(for c: RepresentationContext) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: """
                SELECT id FROM representations WHERE project = ? AND folder = ? AND product = ? AND version = ? AND name = ?
                """, arguments: [c.project, c.folder, c.product, c.version, c.name])
        }
    }

    static func file(_ row: Row) -> FileRecord {
        FileRecord(id: row["id"], representationID: row["representation_id"], project: row["project"],
                   path: row["path"], size: row["size"], sha256: row["sha256"])
    }

    public func files(ofRepresentation id: String) async throws -> [FileRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM files WHERE representation_id = ? ORDER BY position",
                             arguments: [id]).map(Self.file)
        }
    }

    static func state(_ row: Row) -> FileSiteState {
        func date(_ column: String) -> Date? {
            (row[column] as Double?).map(Date.init(timeIntervalSince1970:))
        }
        return FileSiteState(
            fileID: row["file_id"], site: row["site"],
            status: row["status"] as FileSyncStatus? ?? .queued,
            priority: row["priority"], tries: row["tries"], lastError: row["last_error"],
            lastFailureAt: date("last_failure_at"),
            nextAttemptAt: date("next_attempt_at") ?? .distantPast,
            bytesDone: row["bytes_done"], leaseOwner: row["lease_owner"], leaseExpiresAt: date("lease_expires_at"),
            syncedAt: date("synced_at"))
    }

    public func states(ofRepresentation id: String) async throws -> [FileSiteState] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT fs.* FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.representation_id = ? ORDER BY f.position, fs.site
                """, arguments: [id]).map(Self.state)
        }
    }

    public func summaries(project: String?, site: String?) async throws -> [RepresentationSummary] {
        try await read { db in
            var filter: [String] = []
            var args: [(any DatabaseValueConvertible)?] = []
            if let project { filter.append("r.project = ?"); args.append(project) }
            if let site {
                filter.append("EXISTS (SELECT 1 FROM file_sites x WHERE x.representation_id = r.id AND x.site = ?)")
                args.append(site)
            }
            let whereClause = filter.isEmpty ? "" : "WHERE " + filter.joined(separator: " AND ")
            let reps = try Row.fetchAll(db, sql: """
                SELECT r.*, (SELECT COUNT(*) FROM files f WHERE f.representation_id = r.id) AS file_count,
                       (SELECT COALESCE(SUM(size), 0) FROM files f WHERE f.representation_id = r.id) AS total_bytes
                FROM representations r \(whereClause)
                ORDER BY r.project, r.folder, r.product, r.version, r.name
                """, arguments: StatementArguments(args))
            var out: [RepresentationSummary] = []
            for rep in reps {
                let id: String = rep["id"]
                let rows = try Row.fetchAll(db, sql: """
                    SELECT fs.site, fs.status, COUNT(*) AS n,
                           SUM(CASE WHEN fs.status = \(SQLState.synced) THEN f.size ELSE 0 END) AS bytes,
                           MAX(fs.last_error) AS err
                    FROM file_sites fs JOIN files f ON f.id = fs.file_id
                    WHERE fs.representation_id = ? GROUP BY fs.site, fs.status ORDER BY fs.site
                    """, arguments: [id])
                var bySite: [String: SiteSummary] = [:]
                for row in rows {
                    let s: String = row["site"]
                    var summary = bySite[s] ?? SiteSummary(site: s, counts: [:], bytesSynced: 0, lastError: nil)
                    if let status = row["status"] as FileSyncStatus? { summary.counts[status, default: 0] += row["n"] }
                    summary.bytesSynced += row["bytes"] as Int64? ?? 0
                    summary.lastError = summary.lastError ?? row["err"]
                    bySite[s] = summary
                }
                let inputs = try String.fetchAll(db, sql: "SELECT input_id FROM representation_inputs WHERE representation_id = ?",
                                                 arguments: [id])
                out.append(RepresentationSummary(representation: Self.representation(rep, inputs: inputs),
                                                 fileCount: rep["file_count"], totalBytes: rep["total_bytes"],
                                                 sites: bySite.values.sorted { $0.site < $1.site }))
            }
            return out
        }
    }
}
