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
                INSERT INTO representations(id, project, folder, product, version, name, task, host, created_at, paused,
                                            product_type, product_kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [rep.id, c.project, c.folder, c.product, c.version, c.name, c.task, c.host,
                                 rep.createdAt.timeIntervalSince1970, rep.paused, c.productType, c.effectiveProductType])
            for input in rep.inputs {
                try db.execute(sql: "INSERT OR IGNORE INTO representation_inputs(representation_id, input_id) VALUES (?, ?)",
                               arguments: [rep.id, input])
            }
            let t = now.timeIntervalSince1970
            // Prepared once, run per row: a 10,000-frame sequence is one transaction of plain inserts.
            let insertFile = try db.cachedStatement(sql: """
                INSERT INTO files(id, representation_id, project, position, path, size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let insertState = try db.cachedStatement(sql: """
                INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (position, file) in files.enumerated() {
                do {
                    try insertFile.execute(arguments: [file.id, rep.id, file.project, position, file.path, file.size, file.sha256])
                } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
                    // UNIQUE (project, path): another representation has this file (the transaction rolls back).
                    throw CatalogError.duplicatePath(file.path)
                }
                for (site, status) in sites {
                    try insertState.execute(arguments: [file.id, site, rep.id, file.project, status, priority, t,
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
                                           version: row["version"], name: row["name"], task: row["task"], host: row["host"],
                                           productType: row["product_type"]),
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

    public func representations(matching q: RepresentationQuery) async throws -> RepresentationPage {
        try await read { db in
            var filter = ["r.project = ?"]
            var args: [(any DatabaseValueConvertible)?] = [q.project]
            for (column, value) in [("folder", q.folder), ("product", q.product), ("name", q.name)] {
                if let value { filter.append("r.\(column) = ?"); args.append(value) }
            }
            if let version = q.version { filter.append("r.version = ?"); args.append(version) }
            if let site = q.site {
                if let status = q.status {
                    var narrow = ""
                    if let condition = RepresentationQuery.narrowingSQL(status) {
                        narrow = " AND representation_id IN (SELECT representation_id FROM file_sites WHERE site = ? AND \(condition))"
                    }
                    filter.append("""
                        r.id IN (SELECT representation_id FROM file_sites WHERE site = ?\(narrow) GROUP BY representation_id
                                 HAVING \(RepresentationQuery.derivedStatusSQL) = ?)
                        """)
                    args += narrow.isEmpty ? [site, status.rawValue] : [site, site, status.rawValue]
                } else {
                    filter.append("EXISTS (SELECT 1 FROM file_sites x WHERE x.representation_id = r.id AND x.site = ?)")
                    args.append(site)
                }
            }
            if let like = q.likePattern {
                // SQLite's LIKE ignores case (ASCII).
                filter.append("(r.folder LIKE ? ESCAPE '\\' OR r.product LIKE ? ESCAPE '\\' OR r.name LIKE ? ESCAPE '\\')")
                args += [like, like, like]
            }
            let whereClause = filter.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM representations r WHERE \(whereClause)",
                                         arguments: StatementArguments(args)) ?? 0
            var priorityArgs: [(any DatabaseValueConvertible)?] = []
            var priority = "(SELECT COALESCE(MAX(x.priority), 0) FROM file_sites x WHERE x.representation_id = r.id)"
            if q.sort == .priority, let site = q.site {
                priority = "(SELECT COALESCE(MAX(x.priority), 0) FROM file_sites x WHERE x.representation_id = r.id AND x.site = ?)"
                priorityArgs = [site]
            }
            let order = q.orderSQL(size: "(SELECT COALESCE(SUM(f.size), 0) FROM files f WHERE f.representation_id = r.id)",
                                   priority: priority)
            let reps = try Row.fetchAll(db, sql: """
                SELECT r.* FROM representations r WHERE \(whereClause) ORDER BY \(order) LIMIT ? OFFSET ?
                """, arguments: StatementArguments(args + (q.sort == .priority ? priorityArgs : []) + [q.pageSize, q.offset]))
            return RepresentationPage(items: try Self.assemble(db, reps), total: total, page: q.page, pageSize: q.pageSize)
        }
    }
    /// A page's summaries from its representation rows: three queries for the whole page, each through the
    /// representation index.
    static func assemble(_ db: Database, _ reps: [Row]) throws -> [RepresentationSummary] {
        let ids: [String] = reps.map { $0["id"] }
        guard !ids.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        var totals: [String: (Int, Int64)] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT representation_id, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files
            WHERE representation_id IN (\(marks)) GROUP BY representation_id
            """, arguments: StatementArguments(ids)) {
            totals[row["representation_id"]] = (row["n"], row["bytes"])
        }
        var bySite: [String: [String: SiteSummary]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT fs.representation_id AS rid, fs.site, fs.status, COUNT(*) AS n,
                   SUM(CASE WHEN fs.status = \(SQLState.synced) THEN f.size ELSE 0 END) AS bytes,
                   MAX(fs.last_error) AS err
            FROM file_sites fs JOIN files f ON f.id = fs.file_id
            WHERE fs.representation_id IN (\(marks)) GROUP BY fs.representation_id, fs.site, fs.status
            """, arguments: StatementArguments(ids)) {
            let rid: String = row["rid"], s: String = row["site"]
            var summary = bySite[rid]?[s] ?? SiteSummary(site: s, counts: [:], bytesSynced: 0, lastError: nil)
            if let status = row["status"] as FileSyncStatus? { summary.counts[status, default: 0] += row["n"] }
            summary.bytesSynced += row["bytes"] as Int64? ?? 0
            summary.lastError = summary.lastError ?? row["err"]
            bySite[rid, default: [:]][s] = summary
        }
        var inputs: [String: [String]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT representation_id, input_id FROM representation_inputs WHERE representation_id IN (\(marks))
            ORDER BY input_id
            """, arguments: StatementArguments(ids)) {
            inputs[row["representation_id"], default: []].append(row["input_id"])
        }
        return reps.map { rep in
            let id: String = rep["id"]
            let total = totals[id] ?? (0, 0)
            return RepresentationSummary(representation: Self.representation(rep, inputs: inputs[id] ?? []),
                                         fileCount: total.0, totalBytes: total.1,
                                         sites: (bySite[id] ?? [:]).values.sorted { $0.site < $1.site })
        }
    }

    public func representationIDs(withPrefix prefix: String, limit: Int) async throws -> [String] {
        // A range on the primary key: the index finds the first match, whatever the table's size.
        try await read { db in
            try String.fetchAll(db, sql: "SELECT id FROM representations WHERE id >= ? AND substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
                                arguments: [prefix, prefix.count, prefix, limit])
        }
    }

    public func representationID(for c: RepresentationContext) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: """
                SELECT id FROM representations WHERE project = ? AND folder = ? AND product = ? AND version = ? AND name = ?
                """, arguments: [c.project, c.folder, c.product, c.version, c.name])
        }
    }

    public func latestRepresentation(project: String, folder: String, productType: String, task: String?,
                                     host: String?) async throws -> RepresentationRecord? {
        try await read { db in
            var sql = "SELECT * FROM representations WHERE project = ? AND folder = ? AND product_kind = ?"
            var args: [(any DatabaseValueConvertible)?] = [project, folder, productType]
            if let task { sql += " AND task = ?"; args.append(task) }
            if let host { sql += " AND host = ?"; args.append(host) }
            sql += " ORDER BY version DESC, created_at DESC LIMIT 1"
            guard let row = try Row.fetchOne(db, sql: sql, arguments: StatementArguments(args)) else { return nil }
            let id: String = row["id"]
            let inputs = try String.fetchAll(db, sql: "SELECT input_id FROM representation_inputs WHERE representation_id = ? ORDER BY input_id",
                                             arguments: [id])
            return Self.representation(row, inputs: inputs)
        }
    }

    public func knownSites() async throws -> Set<String> {
        try await read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT site FROM file_sites")) }
    }

    public func takenPaths(project: String, paths: [String]) async throws -> [String] {
        try await read { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM files WHERE project = ? AND path = ?")
            return try paths.filter { try Bool.fetchOne(statement, arguments: [project, $0]) != nil }
        }
    }

    /// The columns `file(_:at:)` reads, in its order (by position: a 10,000-file sequence reads in a blink).
    static let fileColumns = "f.id, f.representation_id, f.project, f.path, f.size, f.sha256"

    static func file(_ row: Row, at i: Int = 0) -> FileRecord {
        FileRecord(id: row[i], representationID: row[i + 1], project: row[i + 2], path: row[i + 3], size: row[i + 4],
                   sha256: row[i + 5])
    }

    public func files(ofRepresentation id: String) async throws -> [FileRecord] {
        try await read { db in
            try Array(Row.fetchCursor(db, sql: "SELECT \(Self.fileColumns) FROM files f WHERE f.representation_id = ? ORDER BY f.position",
                                      arguments: [id]).map { Self.file($0) })
        }
    }

    /// The columns `state(_:at:)` reads, in its order.
    static let stateColumns = """
        fs.file_id, fs.site, fs.status, fs.priority, fs.tries, fs.last_error, fs.last_failure_at, fs.next_attempt_at,
        fs.bytes_done, fs.lease_owner, fs.lease_expires_at, fs.synced_at, fs.verified_at, fs.problem, fs.problem_at,
        fs.made_from
        """
    static let stateColumnCount = 16

    static func state(_ row: Row, at i: Int = 0) -> FileSiteState {
        func date(_ column: Int) -> Date? {
            (row[i + column] as Double?).map(Date.init(timeIntervalSince1970:))
        }
        return FileSiteState(
            fileID: row[i], site: row[i + 1],
            status: row[i + 2] as FileSyncStatus? ?? .queued,
            priority: row[i + 3], tries: row[i + 4], lastError: row[i + 5],
            lastFailureAt: date(6),
            nextAttemptAt: date(7) ?? .distantPast,
            bytesDone: row[i + 8], leaseOwner: row[i + 9], leaseExpiresAt: date(10),
            syncedAt: date(11), verifiedAt: date(12), problem: row[i + 13], problemAt: date(14), madeFrom: row[i + 15])
    }

    public func states(ofRepresentation id: String) async throws -> [FileSiteState] {
        try await read { db in
            try Array(Row.fetchCursor(db, sql: """
                SELECT \(Self.stateColumns) FROM file_sites fs JOIN files f ON f.id = fs.file_id
                WHERE fs.representation_id = ? ORDER BY f.position, fs.site
                """, arguments: [id]).map { Self.state($0) })
        }
    }

    public func summaries(project: String?, site: String?, after: RepresentationContext?,
                          limit: Int) async throws -> [RepresentationSummary] {
        let start = SummaryPageStart(project: project, after: after)
        if start.empty { return [] }
        return try await read { db in
            var filter: [String] = []
            var args: [(any DatabaseValueConvertible)?] = []
            if let project { filter.append(start.projectIsUpperBound ? "r.project <= ?" : "r.project = ?"); args.append(project) }
            if let after = start.after {
                filter.append("(r.project, r.folder, r.product, r.version, r.name) > (?, ?, ?, ?, ?)")
                args += [after.project, after.folder, after.product, after.version, after.name]
            }
            if let site {
                filter.append("EXISTS (SELECT 1 FROM file_sites x WHERE x.representation_id = r.id AND x.site = ?)")
                args.append(site)
            }
            args.append(max(1, limit))
            let whereClause = filter.isEmpty ? "" : "WHERE " + filter.joined(separator: " AND ")
            let reps = try Row.fetchAll(db, sql: """
                SELECT r.* FROM representations r \(whereClause)
                ORDER BY r.project, r.folder, r.product, r.version, r.name LIMIT ?
                """, arguments: StatementArguments(args))
            return try Self.assemble(db, reps)
        }
    }
}
