import Foundation
import Logging
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// What users do to representations: add and remove sites, reset, priority, pause; and verification records.
extension PostgresCatalog {
    /// The rows of a query on a transaction's connection.
    static func all(_ c: PostgresConnection, _ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRandomAccessRow] {
        var out: [PostgresRandomAccessRow] = []
        for try await row in try await c.query(query, logger: logger) { out.append(row.makeRandomAccess()) }
        return out
    }

    static func requireRepresentation(_ c: PostgresConnection, _ id: String, _ logger: Logger) async throws -> PostgresRandomAccessRow {
        guard let row = try await all(c, "SELECT * FROM representations WHERE id = \(id) FOR UPDATE", logger).first else {
            throw CatalogError.unknownRepresentation(id)
        }
        return row
    }

    static func requireOtherCopy(_ c: PostgresConnection, fileID: String, excluding group: Set<String>, site: String,
                                 _ logger: Logger) async throws {
        let excluded = Array(group.union([site]))
        if try await all(c, """
            SELECT 1 AS one FROM file_sites WHERE file_id = \(fileID) AND status = 'synced' AND NOT (site = ANY(\(excluded))) LIMIT 1
            """, logger).isEmpty {
            let path = try await all(c, "SELECT path FROM files WHERE id = \(fileID)", logger).first?["path"].decode(String.self) ?? fileID
            throw CatalogError.lastCopy(site: site, path: path)
        }
    }

    public func addSite(representation id: String, site: String, group: Set<String>, priority: Int?, force: Bool,
                        now: Date) async throws -> Int {
        let logger = self.logger
        return try await transaction { c in
            let rep = try await Self.requireRepresentation(c, id, logger)
            let paused = try rep["paused"].decode(Bool.self)
            let files = try await Self.all(c, "SELECT id, project FROM files WHERE representation_id = \(id)", logger)
            let existing = try await Self.all(c, "SELECT file_id, status FROM file_sites WHERE representation_id = \(id) AND site = \(site)", logger)
            if !existing.isEmpty && !force { throw CatalogError.siteAlreadyPresent(site: site, representationID: id) }
            var current: [String: String] = [:]
            for row in existing { current[try row["file_id"].decode(String.self)] = try row["status"].decode(String.self) }
            let alternates = Array(group.subtracting([site]))
            let t = now.timeIntervalSince1970
            var changed = 0
            for file in files {
                let fileID = try file["id"].decode(String.self)
                let onAlternate = alternates.isEmpty ? false : !(try await Self.all(c, """
                    SELECT 1 AS one FROM file_sites WHERE file_id = \(fileID) AND status = 'synced' AND site = ANY(\(alternates)) LIMIT 1
                    """, logger).isEmpty)
                let status: FileSyncStatus = onAlternate ? .synced : (paused ? .paused : .queued)
                let syncedAt: Double? = status == .synced ? t : nil
                if let was = current[fileID] {
                    if was == FileSyncStatus.synced.rawValue && !onAlternate {
                        // Forcing a synced copy to sync again must not drop the last verified copy.
                        try await Self.requireOtherCopy(c, fileID: fileID, excluding: group, site: site, logger)
                    }
                    try await c.query("""
                        UPDATE file_sites SET status = \(status.rawValue), tries = 0, last_error = NULL, last_failure_at = NULL,
                            next_attempt_at = \(t), bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL,
                            synced_at = \(syncedAt), priority = COALESCE(\(priority), priority)
                        WHERE file_id = \(fileID) AND site = \(site)
                        """, logger: logger)
                } else {
                    try await c.query("""
                        INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                        VALUES (\(fileID), \(site), \(id), \(try file["project"].decode(String.self)), \(status.rawValue),
                                \(priority ?? 50), \(t), \(syncedAt))
                        """, logger: logger)
                }
                changed += 1
            }
            try await self.bumpGeneration(c)
            return changed
        }
    }

    public func removeSites(representation id: String, sites: Set<String>) async throws {
        let logger = self.logger
        let list = Array(sites)
        try await transaction { c in
            _ = try await Self.requireRepresentation(c, id, logger)
            let present = try await Self.all(c, "SELECT file_id, status FROM file_sites WHERE representation_id = \(id) AND site = ANY(\(list))", logger)
            guard !present.isEmpty else {
                throw CatalogError.siteNotPresent(site: list.sorted().joined(separator: ", "), representationID: id)
            }
            var synced: Set<String> = []
            for row in present where try row["status"].decode(String.self) == FileSyncStatus.synced.rawValue {
                synced.insert(try row["file_id"].decode(String.self))
            }
            for fileID in synced.sorted() {
                try await Self.requireOtherCopy(c, fileID: fileID, excluding: sites, site: list.sorted().joined(separator: "+"), logger)
            }
            try await c.query("DELETE FROM file_sites WHERE representation_id = \(id) AND site = ANY(\(list))", logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    public func resetSite(representation id: String, site: String, now: Date) async throws -> Int {
        let logger = self.logger
        return try await transaction { c in
            let rep = try await Self.requireRepresentation(c, id, logger)
            let paused = try rep["paused"].decode(Bool.self)
            for row in try await Self.all(c, "SELECT file_id FROM file_sites WHERE representation_id = \(id) AND site = \(site) AND status = 'synced'", logger) {
                try await Self.requireOtherCopy(c, fileID: try row["file_id"].decode(String.self), excluding: [], site: site, logger)
            }
            let status = paused ? FileSyncStatus.paused : FileSyncStatus.queued
            let changed = try await Self.all(c, """
                UPDATE file_sites SET status = \(status.rawValue), tries = 0, last_error = NULL, last_failure_at = NULL,
                    next_attempt_at = \(now.timeIntervalSince1970), bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL,
                    synced_at = NULL
                WHERE representation_id = \(id) AND site = \(site) RETURNING file_id
                """, logger).count
            guard changed > 0 else { throw CatalogError.siteNotPresent(site: site, representationID: id) }
            try await self.bumpGeneration(c)
            return changed
        }
    }

    public func setPriority(representation id: String, priority: Int) async throws {
        let logger = self.logger
        try await transaction { c in
            _ = try await Self.requireRepresentation(c, id, logger)
            try await c.query("UPDATE file_sites SET priority = \(priority) WHERE representation_id = \(id)", logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    public func setRepresentationPaused(_ id: String, paused: Bool, now: Date) async throws {
        let logger = self.logger
        try await transaction { c in
            _ = try await Self.requireRepresentation(c, id, logger)
            try await c.query("UPDATE representations SET paused = \(paused) WHERE id = \(id)", logger: logger)
            if paused {
                try await c.query("""
                    UPDATE file_sites SET status = 'paused', lease_owner = NULL, lease_expires_at = NULL
                    WHERE representation_id = \(id) AND status IN ('queued', 'in_progress')
                    """, logger: logger)
            } else {
                try await c.query("""
                    UPDATE file_sites SET status = 'queued', next_attempt_at = \(now.timeIntervalSince1970)
                    WHERE representation_id = \(id) AND status = 'paused'
                    """, logger: logger)
            }
            try await self.bumpGeneration(c)
        }
    }

    // MARK: Verification

    public func copies(site: String?, project: String?, representation: String?, limit: Int?) async throws -> [CopyRecord] {
        try await rows("""
            SELECT fs.*, f.id AS f_id, f.representation_id AS f_representation_id, f.project AS f_project, f.path, f.size, f.sha256
            FROM file_sites fs JOIN files f ON f.id = fs.file_id
            WHERE fs.status IN ('synced', 'missing', 'corrupt')
              AND (\(site)::text IS NULL OR fs.site = \(site)) AND (\(project)::text IS NULL OR fs.project = \(project))
              AND (\(representation)::text IS NULL OR fs.representation_id = \(representation))
            ORDER BY COALESCE(fs.verified_at, 0), f.representation_id, f.position, fs.site
            LIMIT \(limit ?? Int(Int32.max))
            """).map { CopyRecord(file: try Self.file($0, prefix: "f_"), state: try Self.state($0)) }
    }

    public func markVerified(fileID: String, sites: Set<String>, now: Date) async throws {
        guard !sites.isEmpty else { return }
        let logger = self.logger
        let list = Array(sites)
        let t = now.timeIntervalSince1970
        try await transaction { c in
            try await c.query("UPDATE file_sites SET verified_at = \(t) WHERE file_id = \(fileID) AND site = ANY(\(list))", logger: logger)
            // A copy found damaged before and good now (restored by hand) is a copy again.
            let restored = try await Self.all(c, """
                UPDATE file_sites SET status = 'synced', problem = NULL, problem_at = NULL, synced_at = \(t)
                WHERE file_id = \(fileID) AND status IN ('missing', 'corrupt') AND site = ANY(\(list)) RETURNING site
                """, logger)
            if !restored.isEmpty { try await self.bumpGeneration(c) }
        }
    }

    public func requeueDamaged(site: String?, project: String?, representation: String?, now: Date) async throws -> Int {
        let logger = self.logger
        return try await transaction { c in
            let n = try await Self.all(c, """
                UPDATE file_sites SET status = 'queued', tries = 0, next_attempt_at = \(now.timeIntervalSince1970),
                    lease_owner = NULL, lease_expires_at = NULL, bytes_done = 0, synced_at = NULL
                WHERE status IN ('missing', 'corrupt') AND (\(site)::text IS NULL OR site = \(site))
                  AND (\(project)::text IS NULL OR project = \(project))
                  AND (\(representation)::text IS NULL OR representation_id = \(representation))
                RETURNING file_id
                """, logger).count
            if n > 0 { try await self.bumpGeneration(c) }
            return n
        }
    }
}
