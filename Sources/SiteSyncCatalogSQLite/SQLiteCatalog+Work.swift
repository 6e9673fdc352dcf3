import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// The work queue: claims, leases, completions and failures.
extension SQLiteCatalog {
    // MARK: Work

    public func requeueExpiredLeases(now: Date) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: """
                UPDATE file_sites SET status = \(SQLState.queued), lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = ?
                WHERE status = \(SQLState.inProgress) AND lease_expires_at < ?
                """).execute(arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970])
            let n = db.changesCount
            if n > 0 { try Self.bumpGeneration(db) }
            return n
        }
    }

    /// The query that picks work; public so a test can show its plan. Arguments: source, target, now, the
    /// projects, the preferred sites, the limit.
    public static func claimSQL(projectCount: Int, preferredCount: Int = 0, representationCount: Int? = nil) -> String {
        """
        SELECT t.file_id, t.tries, t.priority, f.representation_id, f.project, f.path, f.size, f.sha256,
          (SELECT d.id || ' ' || d.path FROM files d INDEXED BY files_by_content
             JOIN file_sites c ON c.file_id = d.id AND c.site = t.site AND c.status = \(SQLState.synced)
           WHERE d.project = f.project AND d.sha256 = f.sha256 AND d.size = f.size AND d.id <> f.id LIMIT 1) AS identical
        FROM file_sites t
        JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = \(SQLState.synced)
        JOIN files f ON f.id = t.file_id
        WHERE t.site = ? AND t.status = \(SQLState.queued) AND t.next_attempt_at <= ?
          AND t.project IN (\(marks(max(1, projectCount))))\(leftToPreferred(preferredCount))\(onlyRepresentations(representationCount))
        ORDER BY t.priority DESC, t.next_attempt_at
        LIMIT ?
        """
    }

    /// When the earliest queued transfer of the pair waiting for a later time is due. Through the pending index
    /// by name: without statistics SQLite would pick the index of every row of the site (a scan of its synced
    /// copies on each refill). Arguments: source, target, now, the projects, the preferred sites, the representations.
    public static func waitingSQL(projectCount: Int, preferredCount: Int = 0, representationCount: Int? = nil) -> String {
        """
        SELECT MIN(t.next_attempt_at) FROM file_sites t INDEXED BY file_sites_pending
        JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = \(SQLState.synced)
        WHERE t.site = ? AND t.status = \(SQLState.queued) AND t.next_attempt_at > ?
          AND t.project IN (\(marks(max(1, projectCount))))\(leftToPreferred(preferredCount))\(onlyRepresentations(representationCount))
        """
    }

    /// When the earliest lease of the pair held by any server runs out: through the index of running rows.
    /// Arguments: source, target, the projects, the preferred sites, the representations.
    public static func leasedSQL(projectCount: Int, preferredCount: Int = 0, representationCount: Int? = nil) -> String {
        """
        SELECT MIN(t.lease_expires_at) FROM file_sites t INDEXED BY file_sites_leased
        JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = \(SQLState.synced)
        WHERE t.site = ? AND t.status = \(SQLState.inProgress)
          AND t.project IN (\(marks(max(1, projectCount))))\(leftToPreferred(preferredCount))\(onlyRepresentations(representationCount))
        """
    }

    static func onlyRepresentations(_ count: Int?) -> String {
        guard let count else { return "" }
        return "\n  AND t.representation_id IN (\(marks(max(1, count))))"
    }

    static func marks(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ",") }

    /// A fallback source takes only files that none of the sites read before it has a good copy of.
    static func leftToPreferred(_ count: Int) -> String {
        count == 0 ? "" : """

          AND NOT EXISTS (SELECT 1 FROM file_sites p WHERE p.file_id = t.file_id AND p.status = \(SQLState.synced)
                          AND p.site IN (\(marks(count))))
        """
    }

    public func claim(_ request: ClaimRequest) async throws -> [WorkItem] {
        guard request.limit > 0, !request.projects.isEmpty else { return [] }
        return try await write { db in
            var args: [(any DatabaseValueConvertible)?] = [request.source, request.target, request.now.timeIntervalSince1970]
            args += request.projects.map { $0 }
            args += request.preferred.map { $0 }
            if let only = request.representations { args += (only.isEmpty ? [""] : only).map { $0 } }
            args.append(request.limit)
            // Cached: a server claims for every file, and compiling the statement cost more than running it.
            let rows = try Row.fetchAll(db.cachedStatement(sql: Self.claimSQL(projectCount: request.projects.count, preferredCount: request.preferred.count,
                                                                              representationCount: request.representations?.count)),
                                        arguments: StatementArguments(args))
            var items: [WorkItem] = []
            let fitting = request.budget.map { budget in budget.fitting(rows) { $0["size"] as Int64 } } ?? rows
            for row in fitting {
                let fileID: String = row["file_id"]
                try db.cachedStatement(sql: """
                    UPDATE file_sites SET status = \(SQLState.inProgress), lease_owner = ?, lease_expires_at = ?, bytes_done = 0
                    WHERE file_id = ? AND site = ? AND status = \(SQLState.queued)
                    """).execute(arguments: [request.owner, request.leaseUntil.timeIntervalSince1970, fileID, request.target])
                guard db.changesCount == 1 else { continue }
                let file = FileRecord(id: fileID, representationID: row["representation_id"], project: row["project"],
                                      path: row["path"], size: row["size"], sha256: row["sha256"])
                items.append(WorkItem(file: file, source: request.source, target: request.target,
                                      tries: row["tries"], priority: row["priority"], identical: IdenticalFile(column: row["identical"])))
            }
            return items
        }
    }

    public func nextAttempt(source: String, target: String, projects: [String], preferred: [String],
                            representations: [String]?, after now: Date) async throws -> Date? {
        guard !projects.isEmpty else { return nil }
        return try await read { db in
            let only = representations.map { $0.isEmpty ? [""] : $0 }
            var args: [(any DatabaseValueConvertible)?] = [source, target, now.timeIntervalSince1970]
            args += projects.map { $0 }
            args += preferred.map { $0 }
            args += (only ?? []).map { $0 }
            let waiting = try Double.fetchOne(db.cachedStatement(sql: Self.waitingSQL(projectCount: projects.count, preferredCount: preferred.count,
                                                                       representationCount: only?.count)),
                                              arguments: StatementArguments(args))
            // Work leased by another server becomes runnable when its lease runs out.
            let leased = try Double.fetchOne(db.cachedStatement(sql: Self.leasedSQL(projectCount: projects.count, preferredCount: preferred.count,
                                                                     representationCount: only?.count)),
                                             arguments: StatementArguments([source, target] + projects + preferred + (only ?? [])))
            let times = [waiting, leased.map { max($0, now.timeIntervalSince1970 + 0.001) }].compactMap { $0 }
            return times.min().map(Date.init(timeIntervalSince1970:))
        }
    }

    public func renewLeases(owner: String, keys: [FileKey], now: Date, until: Date) async throws -> Set<FileKey> {
        guard !keys.isEmpty else { return [] }
        return try await write { db in
            var held: Set<FileKey> = []
            for key in keys {
                try db.cachedStatement(sql: """
                    UPDATE file_sites SET lease_expires_at = ?
                    WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = \(SQLState.inProgress)
                    """).execute(arguments: [until.timeIntervalSince1970, key.fileID, key.site, owner])
                if db.changesCount == 1 { held.insert(key) }
            }
            return held
        }
    }

    public func leasesHeld(owner: String, keys: [FileKey]) async throws -> Set<FileKey> {
        guard !keys.isEmpty else { return [] }
        return try await read { db in
            var held: Set<FileKey> = []
            let statement = try db.cachedStatement(sql: """
                SELECT 1 FROM file_sites WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = \(SQLState.inProgress)
                """)
            for key in keys where try Bool.fetchOne(statement, arguments: [key.fileID, key.site, owner]) != nil {
                held.insert(key)
            }
            return held
        }
    }

    public func markDamaged(fileID: String, sites: Set<String>, status: FileSyncStatus, problem: String,
                            now: Date) async throws -> Int {
        guard !sites.isEmpty, status.isDamaged else { return 0 }
        return try await write { db in
            let list = Array(sites)
            try db.cachedStatement(sql: """
                UPDATE file_sites SET status = ?, problem = ?, problem_at = ?, synced_at = NULL
                WHERE file_id = ? AND status = \(SQLState.synced) AND site IN (\(Self.marks(list.count)))
                """).execute(arguments: StatementArguments([status, problem, now.timeIntervalSince1970, fileID] as [(any DatabaseValueConvertible)?] + list.map { $0 }))
            let n = db.changesCount
            // Transfers that waited on this copy may now have another source.
            if n > 0 { try Self.bumpGeneration(db) }
            return n
        }
    }

    public func reportProgress(_ key: FileKey, owner: String, bytesDone: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                UPDATE file_sites SET bytes_done = ? WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = \(SQLState.inProgress)
                """).execute(arguments: [bytesDone, key.fileID, key.site, owner])
        }
    }

    public func completeTransfers(_ completions: [TransferCompletion], owner: String, now: Date) async throws -> Set<FileKey> {
        guard !completions.isEmpty else { return [] }
        return try await write { db in
            let t = now.timeIntervalSince1970
            var done: Set<FileKey> = []
            for completion in completions {
                let key = completion.key
                try db.cachedStatement(sql: """
                    UPDATE file_sites SET status = \(SQLState.synced), synced_at = ?, tries = 0, last_error = NULL, last_failure_at = NULL,
                        lease_owner = NULL, lease_expires_at = NULL, verified_at = ?, problem = NULL, problem_at = NULL,
                        bytes_done = (SELECT size FROM files WHERE id = file_sites.file_id), made_from = ?
                    WHERE file_id = ? AND site = ? AND lease_owner = ?
                    """).execute(arguments: [t, t, completion.madeFrom, key.fileID, key.site, owner])
                guard db.changesCount == 1 else { continue }
                done.insert(key)
                let alternates = completion.alternates.subtracting([key.site])
                guard !alternates.isEmpty else { continue }
                let meta = try Row.fetchOne(db.cachedStatement(sql: "SELECT representation_id, project, priority FROM file_sites WHERE file_id = ? AND site = ?"),
                                            arguments: [key.fileID, key.site])
                for alt in alternates {
                    try db.cachedStatement(sql: """
                        INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                        VALUES (?, ?, ?, ?, \(SQLState.synced), ?, ?, ?)
                        ON CONFLICT(file_id, site) DO UPDATE SET status = \(SQLState.synced), synced_at = excluded.synced_at, tries = 0,
                            last_error = NULL, last_failure_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
                            verified_at = excluded.synced_at, problem = NULL, problem_at = NULL
                        """).execute(arguments: [key.fileID, alt, meta?["representation_id"] as String?, meta?["project"] as String?,
                                         meta?["priority"] as Int? ?? 50, t, t])
                }
            }
            // The new copies can be the source of further transfers (studio → backup after an upload).
            if !done.isEmpty { try Self.bumpGeneration(db) }
            return done
        }
    }

    public func failTransfer(_ key: FileKey, owner: String, error: String, retryAt: Date?, countsAsTry: Bool,
                             now: Date) async throws -> FileSyncStatus? {
        try await write { db in
            let status: FileSyncStatus = retryAt == nil ? .failed : .queued
            try db.cachedStatement(sql: """
                UPDATE file_sites SET status = ?, tries = tries + ?, last_error = ?, last_failure_at = ?, next_attempt_at = ?,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = \(SQLState.inProgress)
                """).execute(arguments: [status, countsAsTry ? 1 : 0, error, now.timeIntervalSince1970,
                                 (retryAt ?? now).timeIntervalSince1970, key.fileID, key.site, owner])
            return db.changesCount == 1 ? status : nil
        }
    }

    public func releaseLeases(owner: String, keys: [FileKey]?) async throws {
        try await write { db in
            if let keys {
                for key in keys {
                    try db.cachedStatement(sql: """
                        UPDATE file_sites SET status = \(SQLState.queued), lease_owner = NULL, lease_expires_at = NULL
                        WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = \(SQLState.inProgress)
                        """).execute(arguments: [key.fileID, key.site, owner])
                }
            } else {
                try db.execute(sql: Self.releaseAllSQL, arguments: [owner])
            }
            // Paused rows keep their state but drop the lease of a transfer that was stopped.
            try db.execute(sql: Self.dropPausedLeasesSQL, arguments: [owner])
            try Self.bumpGeneration(db)
        }
    }

    public func workGeneration() async throws -> Int64 {
        try await read { db in
            Int64(try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'work_generation'")) ?? "0") ?? 0
        }
    }

    static let releaseAllSQL = """
        UPDATE file_sites SET status = \(SQLState.queued), lease_owner = NULL, lease_expires_at = NULL
        WHERE lease_owner = ? AND status = \(SQLState.inProgress)
        """
    static let dropPausedLeasesSQL = "UPDATE file_sites SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?"

    /// `EXPLAIN QUERY PLAN` of the statements a server runs when it gives its leases back.
    public func releaseQueryPlans() async throws -> [String] {
        try await read { db in
            try [Self.releaseAllSQL, Self.dropPausedLeasesSQL].flatMap { sql in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: ["owner"]).map { $0["detail"] as String }
            }
        }
    }

    /// `EXPLAIN QUERY PLAN` of the claim query, for tests and for people tuning big catalogs.
    public func claimQueryPlan(projectCount: Int = 1, preferredCount: Int = 0) async throws -> [String] {
        try await read { db in
            var args: [(any DatabaseValueConvertible)?] = ["a", "b", 0.0]
            args += (0..<max(1, projectCount)).map { "p\($0)" }
            args += (0..<preferredCount).map { "s\($0)" }
            args.append(10)
            return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + Self.claimSQL(projectCount: projectCount, preferredCount: preferredCount),
                                    arguments: StatementArguments(args)).map { $0["detail"] as String }
        }
    }
}
