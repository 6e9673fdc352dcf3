import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// The embedded default catalog: one SQLite file in WAL mode, so a running server and CLI commands of the
/// same machine can use it at once. Keep it on a local disk (SQLite locking is not safe on network shares).
public final class SQLiteCatalog: Catalog {
    public let pool: DatabasePool
    public let path: String

    /// Opens (and migrates) the catalog at `path`; `create` false refuses a missing file.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw CatalogError.storage("no catalog at \(path); run `sitesync init` first (or pass --catalog / set SITESYNC_CATALOG)")
        }
        var config = Configuration()
        // Another process may hold the write lock for a moment (a publish while the server runs).
        config.busyMode = .timeout(30)
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw CatalogError.storage("cannot open \(path): \(error.message ?? error.description)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE projects (
                    name TEXT PRIMARY KEY,
                    paused INTEGER NOT NULL DEFAULT 0,
                    created_at REAL NOT NULL);
                CREATE TABLE representations (
                    id TEXT PRIMARY KEY,
                    project TEXT NOT NULL REFERENCES projects(name),
                    folder TEXT NOT NULL, product TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
                    task TEXT, host TEXT,
                    created_at REAL NOT NULL,
                    paused INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (project, folder, product, version, name));
                CREATE TABLE representation_inputs (
                    representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
                    input_id TEXT NOT NULL,
                    PRIMARY KEY (representation_id, input_id));
                CREATE TABLE files (
                    id TEXT PRIMARY KEY,
                    representation_id TEXT NOT NULL REFERENCES representations(id) ON DELETE CASCADE,
                    project TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    UNIQUE (project, path));
                CREATE INDEX files_by_representation ON files(representation_id, position);
                CREATE TABLE file_sites (
                    file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                    site TEXT NOT NULL,
                    representation_id TEXT NOT NULL,
                    project TEXT NOT NULL,
                    status TEXT NOT NULL,
                    priority INTEGER NOT NULL DEFAULT 50,
                    tries INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    last_failure_at REAL,
                    next_attempt_at REAL NOT NULL DEFAULT 0,
                    bytes_done INTEGER NOT NULL DEFAULT 0,
                    lease_owner TEXT,
                    lease_expires_at REAL,
                    synced_at REAL,
                    PRIMARY KEY (file_id, site));
                -- Picking work reads only queued rows of one site, best first: cost follows pending work.
                CREATE INDEX file_sites_pending ON file_sites(site, priority DESC, next_attempt_at)
                    WHERE status = 'queued';
                CREATE INDEX file_sites_leased ON file_sites(lease_expires_at) WHERE status = 'in_progress';
                CREATE INDEX file_sites_by_representation ON file_sites(representation_id, site);
                INSERT INTO meta(key, value) VALUES ('work_generation', '0');
                """)
        }
        return m
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let e as DatabaseError { throw Self.wrap(e) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let e as DatabaseError { throw Self.wrap(e) }
    }

    static func wrap(_ e: DatabaseError) -> CatalogError {
        .storage(e.message ?? e.description)
    }

    static func bumpGeneration(_ db: Database) throws {
        try db.execute(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'work_generation'")
    }

    // MARK: Settings

    public func studioSettingsYAML() async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'studio_settings'") }
    }

    public func setStudioSettingsYAML(_ yaml: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('studio_settings', ?)", arguments: [yaml])
            try Self.bumpGeneration(db)
        }
    }

    public func isServerPaused() async throws -> Bool {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'server_paused'") == "1"
        }
    }

    public func setServerPaused(_ paused: Bool) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('server_paused', ?)",
                           arguments: [paused ? "1" : "0"])
            try Self.bumpGeneration(db)
        }
    }

    // MARK: Projects

    public func addProject(_ name: String, now: Date) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO projects(name, created_at) VALUES (?, ?)",
                           arguments: [name, now.timeIntervalSince1970])
        }
    }

    public func projects() async throws -> [ProjectRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT name, paused FROM projects ORDER BY name").map {
                ProjectRecord(name: $0["name"], paused: $0["paused"])
            }
        }
    }

    public func setProjectPaused(_ name: String, paused: Bool) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE projects SET paused = ? WHERE name = ?", arguments: [paused, name])
            guard db.changesCount == 1 else { throw CatalogError.unknownProject(name) }
            try Self.bumpGeneration(db)
        }
    }

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
                        """, arguments: [file.id, site, rep.id, file.project, status.rawValue, priority, t,
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
            status: FileSyncStatus(rawValue: row["status"]) ?? .queued,
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
                           SUM(CASE WHEN fs.status = 'synced' THEN f.size ELSE 0 END) AS bytes,
                           MAX(fs.last_error) AS err
                    FROM file_sites fs JOIN files f ON f.id = fs.file_id
                    WHERE fs.representation_id = ? GROUP BY fs.site, fs.status ORDER BY fs.site
                    """, arguments: [id])
                var bySite: [String: SiteSummary] = [:]
                for row in rows {
                    let s: String = row["site"]
                    var summary = bySite[s] ?? SiteSummary(site: s, counts: [:], bytesSynced: 0, lastError: nil)
                    if let status = FileSyncStatus(rawValue: row["status"]) { summary.counts[status, default: 0] += row["n"] }
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
                    SELECT 1 FROM file_sites WHERE file_id = ? AND status = 'synced' AND site IN (\(alternates.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments([fileID] + alternates)) != nil
                let status: FileSyncStatus = onAlternate ? .synced : (paused ? .paused : .queued)
                if let current = try Row.fetchOne(db, sql: "SELECT status FROM file_sites WHERE file_id = ? AND site = ?",
                                                  arguments: [fileID, site]) {
                    let currentStatus: String = current["status"]
                    if currentStatus == FileSyncStatus.synced.rawValue && !onAlternate {
                        // Forcing a synced copy to sync again must not drop the last verified copy.
                        try Self.requireOtherCopy(db, fileID: fileID, excluding: group, site: site)
                    }
                    try db.execute(sql: """
                        UPDATE file_sites SET status = ?, tries = 0, last_error = NULL, last_failure_at = NULL,
                            next_attempt_at = ?, bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL,
                            synced_at = ?, priority = COALESCE(?, priority)
                        WHERE file_id = ? AND site = ?
                        """, arguments: [status.rawValue, t, status == .synced ? t : nil, priority, fileID, site])
                } else {
                    try db.execute(sql: """
                        INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [fileID, site, id, file["project"] as String, status.rawValue, priority ?? 50, t,
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
            SELECT 1 FROM file_sites WHERE file_id = ? AND status = 'synced'
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
                SELECT DISTINCT file_id FROM file_sites WHERE representation_id = ? AND status = 'synced' AND site IN (\(marks))
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
            let rows = try String.fetchAll(db, sql: "SELECT file_id FROM file_sites WHERE representation_id = ? AND site = ? AND status = 'synced'",
                                           arguments: [id, site])
            for fileID in rows { try Self.requireOtherCopy(db, fileID: fileID, excluding: [], site: site) }
            try db.execute(sql: """
                UPDATE file_sites SET status = ?, tries = 0, last_error = NULL, last_failure_at = NULL, next_attempt_at = ?,
                    bytes_done = 0, lease_owner = NULL, lease_expires_at = NULL, synced_at = NULL
                WHERE representation_id = ? AND site = ?
                """, arguments: [paused ? "paused" : "queued", now.timeIntervalSince1970, id, site])
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
                    UPDATE file_sites SET status = 'paused', lease_owner = NULL, lease_expires_at = NULL
                    WHERE representation_id = ? AND status IN ('queued', 'in_progress')
                    """, arguments: [id])
            } else {
                try db.execute(sql: """
                    UPDATE file_sites SET status = 'queued', next_attempt_at = ?
                    WHERE representation_id = ? AND status = 'paused'
                    """, arguments: [now.timeIntervalSince1970, id])
            }
            try Self.bumpGeneration(db)
        }
    }

    // MARK: Work

    public func requeueExpiredLeases(now: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: """
                UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = ?
                WHERE status = 'in_progress' AND lease_expires_at < ?
                """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970])
            let n = db.changesCount
            if n > 0 { try Self.bumpGeneration(db) }
            return n
        }
    }

    /// The query that picks work; public so a test can show its plan.
    public static func claimSQL(projectCount: Int) -> String {
        """
        SELECT t.file_id, t.tries, t.priority, f.representation_id, f.project, f.path, f.size, f.sha256
        FROM file_sites t
        JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = 'synced'
        JOIN files f ON f.id = t.file_id
        WHERE t.site = ? AND t.status = 'queued' AND t.next_attempt_at <= ?
          AND t.project IN (\(Array(repeating: "?", count: max(1, projectCount)).joined(separator: ",")))
        ORDER BY t.priority DESC, t.next_attempt_at
        LIMIT ?
        """
    }

    public func claim(_ request: ClaimRequest) async throws -> [WorkItem] {
        guard request.limit > 0, !request.projects.isEmpty else { return [] }
        return try await write { db in
            var args: [(any DatabaseValueConvertible)?] = [request.source, request.target, request.now.timeIntervalSince1970]
            args += request.projects.map { $0 }
            args.append(request.limit)
            let rows = try Row.fetchAll(db, sql: Self.claimSQL(projectCount: request.projects.count),
                                        arguments: StatementArguments(args))
            var items: [WorkItem] = []
            for row in rows {
                let fileID: String = row["file_id"]
                try db.execute(sql: """
                    UPDATE file_sites SET status = 'in_progress', lease_owner = ?, lease_expires_at = ?, bytes_done = 0
                    WHERE file_id = ? AND site = ? AND status = 'queued'
                    """, arguments: [request.owner, request.leaseUntil.timeIntervalSince1970, fileID, request.target])
                guard db.changesCount == 1 else { continue }
                let file = FileRecord(id: fileID, representationID: row["representation_id"], project: row["project"],
                                      path: row["path"], size: row["size"], sha256: row["sha256"])
                items.append(WorkItem(file: file, source: request.source, target: request.target,
                                      tries: row["tries"], priority: row["priority"]))
            }
            return items
        }
    }

    public func nextAttempt(source: String, target: String, projects: [String], after now: Date) async throws -> Date? {
        guard !projects.isEmpty else { return nil }
        return try await read { db in
            var args: [(any DatabaseValueConvertible)?] = [source, target, now.timeIntervalSince1970]
            args += projects.map { $0 }
            let marks = projects.map { _ in "?" }.joined(separator: ",")
            let waiting = try Double.fetchOne(db, sql: """
                SELECT MIN(t.next_attempt_at) FROM file_sites t
                JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = 'synced'
                WHERE t.site = ? AND t.status = 'queued' AND t.next_attempt_at > ?
                  AND t.project IN (\(marks))
                """, arguments: StatementArguments(args))
            // Work leased by another server becomes runnable when its lease runs out.
            let leased = try Double.fetchOne(db, sql: """
                SELECT MIN(t.lease_expires_at) FROM file_sites t
                JOIN file_sites s ON s.file_id = t.file_id AND s.site = ? AND s.status = 'synced'
                WHERE t.site = ? AND t.status = 'in_progress' AND t.project IN (\(marks))
                """, arguments: StatementArguments([source, target] + projects))
            let times = [waiting, leased.map { max($0, now.timeIntervalSince1970 + 0.001) }].compactMap { $0 }
            return times.min().map(Date.init(timeIntervalSince1970:))
        }
    }

    public func renewLeases(owner: String, keys: [FileKey], until: Date) async throws -> Set<FileKey> {
        guard !keys.isEmpty else { return [] }
        return try await write { db in
            var held: Set<FileKey> = []
            for key in keys {
                try db.execute(sql: """
                    UPDATE file_sites SET lease_expires_at = ?
                    WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = 'in_progress'
                    """, arguments: [until.timeIntervalSince1970, key.fileID, key.site, owner])
                if db.changesCount == 1 { held.insert(key) }
            }
            return held
        }
    }

    public func reportProgress(_ key: FileKey, owner: String, bytesDone: Int64) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE file_sites SET bytes_done = ? WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = 'in_progress'
                """, arguments: [bytesDone, key.fileID, key.site, owner])
        }
    }

    public func completeTransfer(_ key: FileKey, owner: String, alternates: Set<String>, now: Date) async throws -> Bool {
        try await write { db in
            let t = now.timeIntervalSince1970
            try db.execute(sql: """
                UPDATE file_sites SET status = 'synced', synced_at = ?, tries = 0, last_error = NULL, last_failure_at = NULL,
                    lease_owner = NULL, lease_expires_at = NULL,
                    bytes_done = (SELECT size FROM files WHERE id = file_sites.file_id)
                WHERE file_id = ? AND site = ? AND lease_owner = ?
                """, arguments: [t, key.fileID, key.site, owner])
            guard db.changesCount == 1 else { return false }
            let meta = try Row.fetchOne(db, sql: "SELECT representation_id, project, priority FROM file_sites WHERE file_id = ? AND site = ?",
                                        arguments: [key.fileID, key.site])
            for alt in alternates where alt != key.site {
                try db.execute(sql: """
                    INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                    VALUES (?, ?, ?, ?, 'synced', ?, ?, ?)
                    ON CONFLICT(file_id, site) DO UPDATE SET status = 'synced', synced_at = excluded.synced_at, tries = 0,
                        last_error = NULL, last_failure_at = NULL, lease_owner = NULL, lease_expires_at = NULL
                    """, arguments: [key.fileID, alt, meta?["representation_id"] as String?, meta?["project"] as String?,
                                     meta?["priority"] as Int? ?? 50, t, t])
            }
            // The new copy can be the source of further transfers (studio → backup after an upload).
            try Self.bumpGeneration(db)
            return true
        }
    }

    public func failTransfer(_ key: FileKey, owner: String, error: String, retryAt: Date?, countsAsTry: Bool,
                             now: Date) async throws -> FileSyncStatus? {
        try await write { db in
            let status: FileSyncStatus = retryAt == nil ? .failed : .queued
            try db.execute(sql: """
                UPDATE file_sites SET status = ?, tries = tries + ?, last_error = ?, last_failure_at = ?, next_attempt_at = ?,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = 'in_progress'
                """, arguments: [status.rawValue, countsAsTry ? 1 : 0, error, now.timeIntervalSince1970,
                                 (retryAt ?? now).timeIntervalSince1970, key.fileID, key.site, owner])
            return db.changesCount == 1 ? status : nil
        }
    }

    public func releaseLeases(owner: String, keys: [FileKey]?) async throws {
        try await write { db in
            if let keys {
                for key in keys {
                    try db.execute(sql: """
                        UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
                        WHERE file_id = ? AND site = ? AND lease_owner = ? AND status = 'in_progress'
                        """, arguments: [key.fileID, key.site, owner])
                }
            } else {
                try db.execute(sql: """
                    UPDATE file_sites SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
                    WHERE lease_owner = ? AND status = 'in_progress'
                    """, arguments: [owner])
            }
            // Paused rows keep their state but drop the lease of a transfer that was stopped.
            try db.execute(sql: "UPDATE file_sites SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?",
                           arguments: [owner])
            try Self.bumpGeneration(db)
        }
    }

    public func workGeneration() async throws -> Int64 {
        try await read { db in
            Int64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'work_generation'") ?? "0") ?? 0
        }
    }

    /// `EXPLAIN QUERY PLAN` of the claim query, for tests and for people tuning big catalogs.
    public func claimQueryPlan(projectCount: Int = 1) async throws -> [String] {
        try await read { db in
            var args: [(any DatabaseValueConvertible)?] = ["a", "b", 0.0]
            args += (0..<max(1, projectCount)).map { "p\($0)" }
            args.append(10)
            return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + Self.claimSQL(projectCount: projectCount),
                                    arguments: StatementArguments(args)).map { $0["detail"] as String }
        }
    }
}
