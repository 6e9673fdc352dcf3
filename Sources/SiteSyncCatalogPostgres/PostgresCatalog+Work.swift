import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// The work queue: claims with `FOR UPDATE SKIP LOCKED`, leases timed by the database's clock.
extension PostgresCatalog {
    public func requeueExpiredLeases(now: Date) async throws -> Int {
        let logger = self.logger
        return try await transaction { c in
            let n = try await Self.all(c, """
                UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = \(now.timeIntervalSince1970)
                WHERE status = 'in_progress' AND lease_expires_at < \(unescaped: Self.databaseNow)
                RETURNING file_id
                """, logger).count
            if n > 0 { try await self.bumpGeneration(c) }
            return n
        }
    }

    public func claim(_ request: ClaimRequest) async throws -> [WorkItem] {
        guard request.limit > 0, !request.projects.isEmpty else { return [] }
        let logger = self.logger
        // How long the lease lasts comes from the caller; when it ends is the database's business.
        let duration = max(0.5, request.leaseUntil.timeIntervalSince(request.now))
        let only = request.representations
        // Without a budget every file costs one unit and `limit` units are free: the plain LIMIT.
        let budget = request.budget ?? ClaimBudget(units: request.limit, smallFileSize: 0, smallCost: 1, largeCost: 1)
        let rows = try await transaction { c in
            try await Self.all(c, """
                WITH candidates AS (
                    SELECT t.file_id, t.priority, t.next_attempt_at, f.size FROM file_sites t
                    JOIN file_sites s ON s.file_id = t.file_id AND s.site = \(request.source) AND s.status = 'synced'
                    JOIN files f ON f.id = t.file_id
                    WHERE t.site = \(request.target) AND t.status = 'queued' AND t.next_attempt_at <= \(request.now.timeIntervalSince1970)
                      AND t.project = ANY(\(request.projects))
                      AND NOT EXISTS (SELECT 1 FROM file_sites p WHERE p.file_id = t.file_id AND p.status = 'synced'
                                      AND p.site = ANY(\(request.preferred)))
                      AND (\(only == nil) OR t.representation_id = ANY(\(only ?? [])))
                    ORDER BY t.priority DESC, t.next_attempt_at
                    LIMIT \(request.limit)
                    FOR UPDATE OF t SKIP LOCKED),
                picked AS (
                    SELECT file_id FROM (
                        SELECT file_id, SUM(CASE WHEN size <= \(budget.smallFileSize) THEN \(budget.smallCost) ELSE \(budget.largeCost) END)
                            OVER (ORDER BY priority DESC, next_attempt_at, file_id ROWS UNBOUNDED PRECEDING) AS spent
                        FROM candidates) w
                    WHERE spent <= \(budget.units))
                UPDATE file_sites t SET status = 'in_progress', lease_owner = \(request.owner),
                    lease_expires_at = \(unescaped: Self.databaseNow) + \(duration), bytes_done = 0
                FROM picked, files f
                WHERE t.file_id = picked.file_id AND t.site = \(request.target) AND f.id = t.file_id
                RETURNING t.file_id, t.tries, t.priority, t.next_attempt_at, f.representation_id, f.project, f.path, f.size, f.sha256,
                    (SELECT d.id || ' ' || d.path FROM files d
                       JOIN file_sites c ON c.file_id = d.id AND c.site = t.site AND c.status = 'synced'
                     WHERE d.project = f.project AND d.sha256 = f.sha256 AND d.size = f.size AND d.id <> f.id LIMIT 1) AS identical
                """, logger)
        }
        return try rows.map { r -> (WorkItem, Double) in
            let file = FileRecord(id: try r["file_id"].decode(String.self), representationID: try r["representation_id"].decode(String.self),
                                  project: try r["project"].decode(String.self), path: try r["path"].decode(String.self),
                                  size: try r["size"].decode(Int64.self), sha256: try r["sha256"].decode(String.self))
            return (WorkItem(file: file, source: request.source, target: request.target, tries: try r["tries"].decode(Int.self),
                             priority: try r["priority"].decode(Int.self), identical: IdenticalFile(column: try r["identical"].decode(String?.self))),
                    try r["next_attempt_at"].decode(Double.self))
        }
        .sorted { ($0.0.priority, -$0.1) > ($1.0.priority, -$1.1) }
        .map(\.0)
    }

    public func nextAttempt(source: String, target: String, projects: [String], preferred: [String],
                            representations: [String]?, after now: Date) async throws -> Date? {
        guard !projects.isEmpty else { return nil }
        let r = try await rows("""
            SELECT
              (SELECT MIN(t.next_attempt_at) FROM file_sites t
                 JOIN file_sites s ON s.file_id = t.file_id AND s.site = \(source) AND s.status = 'synced'
                 WHERE t.site = \(target) AND t.status = 'queued' AND t.next_attempt_at > \(now.timeIntervalSince1970)
                   AND t.project = ANY(\(projects))
                   AND NOT EXISTS (SELECT 1 FROM file_sites p WHERE p.file_id = t.file_id AND p.status = 'synced' AND p.site = ANY(\(preferred)))
                   AND (\(representations == nil) OR t.representation_id = ANY(\(representations ?? [])))) AS waiting,
              (SELECT MIN(t.lease_expires_at) - \(unescaped: Self.databaseNow) FROM file_sites t
                 JOIN file_sites s ON s.file_id = t.file_id AND s.site = \(source) AND s.status = 'synced'
                 WHERE t.site = \(target) AND t.status = 'in_progress' AND t.project = ANY(\(projects))
                   AND NOT EXISTS (SELECT 1 FROM file_sites p WHERE p.file_id = t.file_id AND p.status = 'synced' AND p.site = ANY(\(preferred)))
                   AND (\(representations == nil) OR t.representation_id = ANY(\(representations ?? [])))) AS lease_left
            """).first
        let waiting = try r?["waiting"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
        // Another server's lease, measured on the database's clock, ends this many seconds from now.
        let leased = try r?["lease_left"].decode(Double?.self).map { now.addingTimeInterval(max($0, 0.001)) }
        return [waiting, leased].compactMap { $0 }.min()
    }

    public func leasesHeld(owner: String, keys: [FileKey]) async throws -> Set<FileKey> {
        guard !keys.isEmpty else { return [] }
        let wanted = Set(keys)
        let found = try await rows("""
            SELECT file_id, site FROM file_sites
            WHERE lease_owner = \(owner) AND status = 'in_progress' AND file_id = ANY(\(keys.map(\.fileID)))
            """).map { FileKey(fileID: try $0["file_id"].decode(String.self), site: try $0["site"].decode(String.self)) }
        return Set(found).intersection(wanted)
    }

    public func renewLeases(owner: String, keys: [FileKey], now: Date, until: Date) async throws -> Set<FileKey> {
        guard !keys.isEmpty else { return [] }
        let duration = max(0.5, until.timeIntervalSince(now))
        let wanted = Set(keys)
        let logger = self.logger
        let renewed = try await transaction { c in
            try await Self.all(c, """
                UPDATE file_sites SET lease_expires_at = \(unescaped: Self.databaseNow) + \(duration)
                WHERE lease_owner = \(owner) AND status = 'in_progress' AND file_id = ANY(\(keys.map(\.fileID)))
                  AND site = ANY(\(keys.map(\.site)))
                RETURNING file_id, site
                """, logger)
        }
        return Set(try renewed.map { FileKey(fileID: try $0["file_id"].decode(String.self), site: try $0["site"].decode(String.self)) })
            .intersection(wanted)
    }

    public func reportProgress(_ key: FileKey, owner: String, bytesDone: Int64) async throws {
        try await execute("""
            UPDATE file_sites SET bytes_done = \(bytesDone)
            WHERE file_id = \(key.fileID) AND site = \(key.site) AND lease_owner = \(owner) AND status = 'in_progress'
            """)
    }

    public func completeTransfers(_ completions: [TransferCompletion], owner: String, now: Date) async throws -> Set<FileKey> {
        guard !completions.isEmpty else { return [] }
        let logger = self.logger
        let t = now.timeIntervalSince1970
        let fileIDs = completions.map(\.key.fileID), sites = completions.map(\.key.site)
        let madeFrom = completions.map { $0.madeFrom ?? "" }
        return try await transaction { c in
            // One statement for the whole batch: a round trip per file would cost more than the files.
            let rows = try await Self.all(c, """
                UPDATE file_sites t SET status = 'synced', synced_at = \(t), tries = 0, last_error = NULL, last_failure_at = NULL,
                    lease_owner = NULL, lease_expires_at = NULL, verified_at = \(t), problem = NULL, problem_at = NULL,
                    bytes_done = (SELECT size FROM files WHERE id = t.file_id), made_from = NULLIF(k.made_from, '')
                FROM unnest(\(fileIDs), \(sites), \(madeFrom)) AS k(file_id, site, made_from)
                WHERE t.file_id = k.file_id AND t.site = k.site AND t.lease_owner = \(owner)
                RETURNING t.file_id, t.site, t.representation_id, t.project, t.priority
                """, logger)
            var done: Set<FileKey> = []
            for row in rows {
                let key = FileKey(fileID: try row["file_id"].decode(String.self), site: try row["site"].decode(String.self))
                done.insert(key)
                let others = Array((completions.first { $0.key == key }?.alternates ?? []).subtracting([key.site]))
                guard !others.isEmpty else { continue }
                try await c.query("""
                    INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at, verified_at)
                    SELECT \(key.fileID), a.site, \(try row["representation_id"].decode(String.self)), \(try row["project"].decode(String.self)),
                           'synced', \(try row["priority"].decode(Int.self)), \(t), \(t), \(t)
                    FROM unnest(\(others)) AS a(site)
                    ON CONFLICT (file_id, site) DO UPDATE SET status = 'synced', synced_at = excluded.synced_at, tries = 0,
                        last_error = NULL, last_failure_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
                        verified_at = excluded.synced_at, problem = NULL, problem_at = NULL
                    """, logger: logger)
            }
            // The new copies can be the source of further transfers (studio → backup after an upload).
            if !done.isEmpty { try await self.bumpGeneration(c) }
            return done
        }
    }

    public func failTransfer(_ key: FileKey, owner: String, error: String, retryAt: Date?, countsAsTry: Bool,
                             now: Date) async throws -> FileSyncStatus? {
        let status: FileSyncStatus = retryAt == nil ? .failed : .queued
        let changed = try await rows("""
            UPDATE file_sites SET status = \(status.rawValue), tries = tries + \(countsAsTry ? 1 : 0), last_error = \(error),
                last_failure_at = \(now.timeIntervalSince1970), next_attempt_at = \((retryAt ?? now).timeIntervalSince1970),
                lease_owner = NULL, lease_expires_at = NULL
            WHERE file_id = \(key.fileID) AND site = \(key.site) AND lease_owner = \(owner) AND status = 'in_progress'
            RETURNING file_id
            """)
        return changed.isEmpty ? nil : status
    }

    public func releaseLeases(owner: String, keys: [FileKey]?) async throws {
        let logger = self.logger
        try await transaction { c in
            if let keys {
                for key in keys {
                    try await c.query("""
                        UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
                        WHERE file_id = \(key.fileID) AND site = \(key.site) AND lease_owner = \(owner) AND status = 'in_progress'
                        """, logger: logger)
                }
            } else {
                try await c.query("""
                    UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
                    WHERE lease_owner = \(owner) AND status = 'in_progress'
                    """, logger: logger)
            }
            // Paused rows keep their state but drop the lease of a transfer that was stopped (by the owner index).
            try await c.query("UPDATE file_sites SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = \(owner)", logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    public func markDamaged(fileID: String, sites: Set<String>, status: FileSyncStatus, problem: String, now: Date) async throws -> Int {
        guard !sites.isEmpty, status.isDamaged else { return 0 }
        let logger = self.logger
        return try await transaction { c in
            let n = try await Self.all(c, """
                UPDATE file_sites SET status = \(status.rawValue), problem = \(problem), problem_at = \(now.timeIntervalSince1970), synced_at = NULL
                WHERE file_id = \(fileID) AND status = 'synced' AND site = ANY(\(Array(sites)))
                RETURNING site
                """, logger).count
            if n > 0 { try await self.bumpGeneration(c) }
            return n
        }
    }
}
