import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// Published representations, their files and states, and the status summaries.
extension PostgresCatalog {
    public func insertRepresentation(_ rep: RepresentationRecord, files: [FileRecord], sites: [String: FileSyncStatus],
                                     priority: Int, now: Date) async throws {
        let logger = self.logger
        try await transaction { c in
            let ctx = rep.context
            var known = false
            for try await (_) in try await c.query("SELECT name FROM projects WHERE name = \(ctx.project)", logger: logger).decode(String.self) {
                known = true
            }
            guard known else { throw CatalogError.unknownProject(ctx.project) }
            for try await (existing) in try await c.query("""
                SELECT id FROM representations WHERE project = \(ctx.project) AND folder = \(ctx.folder) AND product = \(ctx.product)
                  AND version = \(ctx.version) AND name = \(ctx.name)
                """, logger: logger).decode(String.self) {
                throw CatalogError.duplicateRepresentation(existingID: existing, ctx)
            }
            let paths = files.map(\.path)
            for try await (taken) in try await c.query("SELECT path FROM files WHERE project = \(ctx.project) AND path = ANY(\(paths)) LIMIT 1",
                                                        logger: logger).decode(String.self) {
                throw CatalogError.duplicatePath(taken)
            }
            try await c.query("""
                INSERT INTO representations(id, project, folder, product, version, name, task, host, created_at, paused,
                                            product_type, product_kind)
                VALUES (\(rep.id), \(ctx.project), \(ctx.folder), \(ctx.product), \(ctx.version), \(ctx.name), \(ctx.task),
                        \(ctx.host), \(rep.createdAt.timeIntervalSince1970), \(rep.paused), \(ctx.productType), \(ctx.effectiveProductType))
                """, logger: logger)
            if !rep.inputs.isEmpty {
                try await c.query("""
                    INSERT INTO representation_inputs(representation_id, input_id) SELECT \(rep.id), unnest(\(rep.inputs))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            guard !files.isEmpty else { try await self.bumpGeneration(c); return }
            // One statement for every file and one for every file × site: a 10,000-frame sequence stays quick.
            let t = now.timeIntervalSince1970
            try await c.query("""
                INSERT INTO files(id, representation_id, project, position, path, size, sha256)
                SELECT f.id, \(rep.id), \(ctx.project), f.position, f.path, f.size, f.sha256
                FROM unnest(\(files.map(\.id)), \(Array(0..<files.count)), \(paths), \(files.map(\.size)), \(files.map(\.sha256)))
                     AS f(id, position, path, size, sha256)
                """, logger: logger)
            let siteNames = sites.keys.sorted()
            let statuses = siteNames.map { sites[$0]?.rawValue ?? FileSyncStatus.queued.rawValue }
            try await c.query("""
                INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, next_attempt_at, synced_at)
                SELECT f.id, s.site, \(rep.id), \(ctx.project), s.status, \(priority), \(t),
                       CASE WHEN s.status = 'synced' THEN \(t) ELSE NULL END
                FROM unnest(\(files.map(\.id))) AS f(id) CROSS JOIN unnest(\(siteNames), \(statuses)) AS s(site, status)
                """, logger: logger)
            try await self.bumpGeneration(c)
        }
    }

    static func representation(_ r: PostgresRandomAccessRow, inputs: [String]) throws -> RepresentationRecord {
        RepresentationRecord(
            id: try r["id"].decode(String.self),
            context: RepresentationContext(project: try r["project"].decode(String.self), folder: try r["folder"].decode(String.self),
                                           product: try r["product"].decode(String.self), version: try r["version"].decode(Int.self),
                                           name: try r["name"].decode(String.self), task: try r["task"].decode(String?.self),
                                           host: try r["host"].decode(String?.self), productType: try r["product_type"].decode(String?.self)),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            paused: try r["paused"].decode(Bool.self), inputs: inputs)
    }

    func inputs(of id: String) async throws -> [String] {
        try await rows("SELECT input_id FROM representation_inputs WHERE representation_id = \(id) ORDER BY input_id")
            .map { try $0["input_id"].decode(String.self) }
    }

    public func representation(_ id: String) async throws -> RepresentationRecord? {
        guard let r = try await rows("SELECT * FROM representations WHERE id = \(id)").first else { return nil }
        return try Self.representation(r, inputs: try await inputs(of: id))
    }

    /// A page's summaries from its representation rows: three queries for the whole page, each through the
    /// representation index; the page's files are joined to their rows as one hashed set.
    func assemble(_ reps: [PostgresRandomAccessRow]) async throws -> [RepresentationSummary] {
        let ids = try reps.map { try $0["id"].decode(String.self) }
        guard !ids.isEmpty else { return [] }
        var totals: [String: (Int, Int64)] = [:]
        for row in try await rows("""
            SELECT representation_id, COUNT(*) AS n, COALESCE(SUM(size), 0)::bigint AS bytes FROM files
            WHERE representation_id = ANY(\(ids)) GROUP BY representation_id
            """) {
            totals[try row["representation_id"].decode(String.self)] = (try row["n"].decode(Int.self), try row["bytes"].decode(Int64.self))
        }
        var bySite: [String: [String: SiteSummary]] = [:]
        for row in try await rows("""
            SELECT fs.representation_id AS rid, fs.site, fs.status, COUNT(*) AS n,
                   COALESCE(SUM(CASE WHEN fs.status = 'synced' THEN f.size ELSE 0 END), 0)::bigint AS bytes,
                   MAX(fs.last_error) AS err
            FROM file_sites fs JOIN files f ON f.id = fs.file_id AND f.representation_id = fs.representation_id
            WHERE fs.representation_id = ANY(\(ids)) AND f.representation_id = ANY(\(ids))
            GROUP BY fs.representation_id, fs.site, fs.status
            """) {
            let rid = try row["rid"].decode(String.self), s = try row["site"].decode(String.self)
            var summary = bySite[rid]?[s] ?? SiteSummary(site: s, counts: [:], bytesSynced: 0, lastError: nil)
            if let status = FileSyncStatus(rawValue: try row["status"].decode(String.self)) {
                summary.counts[status, default: 0] += try row["n"].decode(Int.self)
            }
            summary.bytesSynced += try row["bytes"].decode(Int64.self)
            let err = try row["err"].decode(String?.self)
            summary.lastError = summary.lastError ?? err
            bySite[rid, default: [:]][s] = summary
        }
        var inputs: [String: [String]] = [:]
        for row in try await rows("""
            SELECT representation_id, input_id FROM representation_inputs WHERE representation_id = ANY(\(ids)) ORDER BY input_id
            """) {
            inputs[try row["representation_id"].decode(String.self), default: []].append(try row["input_id"].decode(String.self))
        }
        return try reps.map { rep in
            let id = try rep["id"].decode(String.self)
            let total = totals[id] ?? (0, 0)
            return RepresentationSummary(representation: try Self.representation(rep, inputs: inputs[id] ?? []),
                                         fileCount: total.0, totalBytes: total.1,
                                         sites: (bySite[id] ?? [:]).values.sorted { $0.site < $1.site })
        }
    }

    public func representations(matching q: RepresentationQuery) async throws -> RepresentationPage {
        // Built as text with numbered binds: the filters vary, and every value still travels as a parameter.
        var binds = PostgresBindings()
        func bind(_ v: some PostgresNonThrowingEncodable & Sendable) -> String {
            binds.append(v)
            return "$\(binds.count)"
        }
        var filter = ["r.project = \(bind(q.project))"]
        if let v = q.folder { filter.append("r.folder = \(bind(v))") }
        if let v = q.product { filter.append("r.product = \(bind(v))") }
        if let v = q.name { filter.append("r.name = \(bind(v))") }
        if let v = q.version { filter.append("r.version = \(bind(v))") }
        if let site = q.site {
            if let status = q.status {
                let narrow = RepresentationQuery.narrowingSQL(status).map {
                    " AND representation_id IN (SELECT representation_id FROM file_sites WHERE site = \(bind(site)) AND \($0))"
                } ?? ""
                filter.append("""
                    r.id IN (SELECT representation_id FROM file_sites WHERE site = \(bind(site))\(narrow) GROUP BY representation_id
                             HAVING \(RepresentationQuery.derivedStatusSQL) = \(bind(status.rawValue)))
                    """)
            } else {
                filter.append("EXISTS (SELECT 1 FROM file_sites x WHERE x.representation_id = r.id AND x.site = \(bind(site)))")
            }
        }
        if let like = q.likePattern {
            let b = bind(like)
            filter.append("(r.folder ILIKE \(b) OR r.product ILIKE \(b) OR r.name ILIKE \(b))")
        }
        let whereClause = filter.joined(separator: " AND ")
        let countBinds = binds
        let total = try await rows(PostgresQuery(unsafeSQL: "SELECT COUNT(*)::bigint AS n FROM representations r WHERE \(whereClause)",
                                                 binds: countBinds)).first?["n"].decode(Int.self) ?? 0
        var priority = "(SELECT COALESCE(MAX(x.priority), 0) FROM file_sites x WHERE x.representation_id = r.id)"
        if q.sort == .priority, let site = q.site {
            priority = "(SELECT COALESCE(MAX(x.priority), 0) FROM file_sites x WHERE x.representation_id = r.id AND x.site = \(bind(site)))"
        }
        let order = q.orderSQL(size: "(SELECT COALESCE(SUM(f.size), 0) FROM files f WHERE f.representation_id = r.id)",
                               priority: priority)
        let sql = "SELECT r.* FROM representations r WHERE \(whereClause) ORDER BY \(order) LIMIT \(bind(q.pageSize)) OFFSET \(bind(q.offset))"
        let reps = try await rows(PostgresQuery(unsafeSQL: sql, binds: binds))
        return RepresentationPage(items: try await assemble(reps), total: total, page: q.page, pageSize: q.pageSize)
    }

    public func representationIDs(withPrefix prefix: String, limit: Int) async throws -> [String] {
        // Bytes compared as ids are written (`COLLATE "C"`), whatever the database's collation.
        try await rows("""
            SELECT id FROM representations WHERE starts_with(id, \(prefix)) ORDER BY id COLLATE "C" LIMIT \(limit)
            """).map { try $0["id"].decode(String.self) }
    }

    public func representationID(for c: RepresentationContext) async throws -> String? {
        try await rows("""
            SELECT id FROM representations WHERE project = \(c.project) AND folder = \(c.folder) AND product = \(c.product)
              AND version = \(c.version) AND name = \(c.name)
            """).first?["id"].decode(String.self)
    }

    public func latestRepresentation(project: String, folder: String, productType: String, task: String?,
                                     host: String?) async throws -> RepresentationRecord? {
        guard let r = try await rows("""
            SELECT * FROM representations WHERE project = \(project) AND folder = \(folder) AND product_kind = \(productType)
              AND (\(task)::text IS NULL OR task = \(task)) AND (\(host)::text IS NULL OR host = \(host))
            ORDER BY version DESC, created_at DESC LIMIT 1
            """).first else { return nil }
        let id = try r["id"].decode(String.self)
        return try Self.representation(r, inputs: try await inputs(of: id))
    }

    public func knownSites() async throws -> Set<String> {
        Set(try await rows("SELECT DISTINCT site FROM file_sites").map { try $0["site"].decode(String.self) })
    }

    public func takenPaths(project: String, paths: [String]) async throws -> [String] {
        try await rows("SELECT path FROM files WHERE project = \(project) AND path = ANY(\(paths))").map { try $0["path"].decode(String.self) }
    }

    static func file(_ r: PostgresRandomAccessRow, prefix: String = "") throws -> FileRecord {
        FileRecord(id: try r["\(prefix)id"].decode(String.self), representationID: try r["\(prefix)representation_id"].decode(String.self),
                   project: try r["\(prefix)project"].decode(String.self), path: try r["path"].decode(String.self),
                   size: try r["size"].decode(Int64.self), sha256: try r["sha256"].decode(String.self))
    }

    public func files(ofRepresentation id: String) async throws -> [FileRecord] {
        try await rows("SELECT * FROM files WHERE representation_id = \(id) ORDER BY position").map { try Self.file($0) }
    }

    static func state(_ r: PostgresRandomAccessRow) throws -> FileSiteState {
        FileSiteState(
            fileID: try r["file_id"].decode(String.self), site: try r["site"].decode(String.self),
            status: FileSyncStatus(rawValue: try r["status"].decode(String.self)) ?? .queued,
            priority: try r["priority"].decode(Int.self), tries: try r["tries"].decode(Int.self),
            lastError: try r["last_error"].decode(String?.self), lastFailureAt: try r.date("last_failure_at"),
            nextAttemptAt: try r.date("next_attempt_at") ?? .distantPast, bytesDone: try r["bytes_done"].decode(Int64.self),
            leaseOwner: try r["lease_owner"].decode(String?.self), leaseExpiresAt: try r.date("lease_expires_at"),
            syncedAt: try r.date("synced_at"), verifiedAt: try r.date("verified_at"), problem: try r["problem"].decode(String?.self),
            problemAt: try r.date("problem_at"), madeFrom: try r["made_from"].decode(String?.self))
    }

    public func states(ofRepresentation id: String) async throws -> [FileSiteState] {
        try await rows("""
            SELECT fs.* FROM file_sites fs JOIN files f ON f.id = fs.file_id
            WHERE fs.representation_id = \(id) ORDER BY f.position, fs.site
            """).map(Self.state)
    }

    public func summaries(project: String?, site: String?, after: RepresentationContext?,
                          limit: Int) async throws -> [RepresentationSummary] {
        let start = SummaryPageStart(project: project, after: after)
        if start.empty { return [] }
        let a = start.after, upper = start.projectIsUpperBound
        let reps = try await rows("""
            SELECT r.* FROM representations r
            WHERE (\(project)::text IS NULL OR (\(upper) AND r.project <= \(project)) OR (NOT \(upper) AND r.project = \(project)))
              AND (\(a == nil) OR (r.project, r.folder, r.product, r.version, r.name)
                   > (\(a?.project ?? "")::text, \(a?.folder ?? "")::text, \(a?.product ?? "")::text, \(a?.version ?? 0)::int, \(a?.name ?? "")::text))
              AND (\(site)::text IS NULL OR EXISTS (SELECT 1 FROM file_sites x WHERE x.representation_id = r.id AND x.site = \(site)))
            ORDER BY r.project, r.folder, r.product, r.version, r.name
            LIMIT \(max(1, limit))
            """)
        return try await assemble(reps)
    }
}
