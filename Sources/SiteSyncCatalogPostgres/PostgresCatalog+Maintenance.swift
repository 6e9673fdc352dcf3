import Foundation
import PostgresNIO
import SiteSyncCatalog
import SiteSyncModel

/// The catalog as a whole: its health report, and every representation out and in (`sitesync catalog copy`).
extension PostgresCatalog {
    public func report(now: Date) async throws -> CatalogReport {
        var states: [String: [FileSyncStatus: Int]] = [:]
        for row in try await rows("SELECT site, status, COUNT(*) AS n FROM file_sites GROUP BY site, status") {
            guard let status = FileSyncStatus(rawValue: try row["status"].decode(String.self)) else { continue }
            states[try row["site"].decode(String.self), default: [:]][status] = try row["n"].decode(Int.self)
        }
        // Leases by the database's clock, as the servers' claims judge them.
        let leases = try await rows("""
            SELECT COUNT(*) FILTER (WHERE lease_expires_at >= \(unescaped: Self.databaseNow)) AS running,
                   COUNT(*) FILTER (WHERE lease_expires_at < \(unescaped: Self.databaseNow)) AS expired,
                   COALESCE(array_agg(DISTINCT lease_owner) FILTER (WHERE lease_expires_at >= \(unescaped: Self.databaseNow)
                                                                     AND lease_owner IS NOT NULL), '{}') AS owners
            FROM file_sites WHERE status = 'in_progress'
            """).first
        let counts = try await rows("""
            SELECT (SELECT COUNT(*) FROM projects) AS projects, (SELECT COUNT(*) FROM representations) AS representations,
                   (SELECT COUNT(*) FROM files) AS files,
                   (SELECT value FROM meta WHERE key = 'schema_version') AS version,
                   (SELECT value FROM meta WHERE key = 'server_paused') AS paused,
                   EXISTS (SELECT 1 FROM meta WHERE key = 'studio_settings') AS settings
            """).first
        return CatalogReport(
            kind: "postgresql",
            schemaVersion: Int(try counts?["version"].decode(String?.self) ?? "") ?? 1, buildSchemaVersion: Self.schemaVersion,
            projects: try counts?["projects"].decode(Int.self) ?? 0,
            representations: try counts?["representations"].decode(Int.self) ?? 0,
            files: try counts?["files"].decode(Int.self) ?? 0, states: states,
            runningLeases: try leases?["running"].decode(Int.self) ?? 0, expiredLeases: try leases?["expired"].decode(Int.self) ?? 0,
            leaseOwners: (try leases?["owners"].decode([String].self) ?? []).sorted(),
            serverPaused: try counts?["paused"].decode(String?.self) == "1",
            hasSettings: try counts?["settings"].decode(Bool.self) ?? false)
    }

    public func exportRepresentations(after: String?, limit: Int) async throws -> [RepresentationExport] {
        let reps = try await rows("SELECT * FROM representations WHERE id > \(after ?? "") ORDER BY id LIMIT \(max(1, limit))")
        let ids = try reps.map { try $0["id"].decode(String.self) }
        guard !ids.isEmpty else { return [] }
        // Four queries for the whole page, each through a representation index.
        var inputs: [String: [String]] = [:]
        for row in try await rows("""
            SELECT representation_id, input_id FROM representation_inputs WHERE representation_id = ANY(\(ids)) ORDER BY input_id
            """) {
            inputs[try row["representation_id"].decode(String.self), default: []].append(try row["input_id"].decode(String.self))
        }
        var files: [String: [FileRecord]] = [:]
        for row in try await rows("SELECT * FROM files WHERE representation_id = ANY(\(ids)) ORDER BY representation_id, position") {
            let file = try Self.file(row)
            files[file.representationID, default: []].append(file)
        }
        var states: [String: [FileSiteState]] = [:]
        for row in try await rows("SELECT * FROM file_sites WHERE representation_id = ANY(\(ids)) ORDER BY representation_id, file_id, site") {
            states[try row["representation_id"].decode(String.self), default: []].append(try Self.state(row))
        }
        return try reps.map { row in
            let id = try row["id"].decode(String.self)
            return RepresentationExport(representation: try Self.representation(row, inputs: inputs[id] ?? []),
                                        files: files[id] ?? [], states: states[id] ?? [])
        }
    }

    /// The rows of a batch as JSON documents: `jsonb_to_recordset` turns each table's rows into one INSERT, with
    /// NULLs where a value is absent (arrays of optionals do not bind).
    struct ImportRows: Encodable {
        struct Rep: Encodable {
            var id, project, folder, product, name, product_kind: String
            var version: Int
            var task, host, product_type: String?
            var created_at: Double
            var paused: Bool
        }
        struct Input: Encodable { var representation_id, input_id: String }
        struct File: Encodable {
            var id, representation_id, project, path, sha256: String
            var position: Int
            var size: Int64
        }
        struct State: Encodable {
            var file_id, site, representation_id, project, status: String
            var priority, tries: Int
            var last_error, problem: String?
            var last_failure_at, synced_at, verified_at, problem_at: Double?
            var next_attempt_at: Double
            var bytes_done: Int64
        }
        var reps: [Rep] = []
        var inputs: [Input] = []
        var files: [File] = []
        var states: [State] = []

        init(_ batch: [RepresentationExport]) {
            for export in batch {
                let r = export.representation, c = r.context
                reps.append(Rep(id: r.id, project: c.project, folder: c.folder, product: c.product, name: c.name,
                                product_kind: c.effectiveProductType, version: c.version, task: c.task, host: c.host,
                                product_type: c.productType, created_at: r.createdAt.timeIntervalSince1970, paused: r.paused))
                inputs += r.inputs.map { Input(representation_id: r.id, input_id: $0) }
                files += export.files.enumerated().map { position, f in
                    File(id: f.id, representation_id: r.id, project: f.project, path: f.path, sha256: f.sha256,
                         position: position, size: f.size)
                }
                states += export.states.map(\.importedIntoNewCatalog).map { s in
                    State(file_id: s.fileID, site: s.site, representation_id: r.id, project: c.project, status: s.status.rawValue,
                          priority: s.priority, tries: s.tries, last_error: s.lastError, problem: s.problem,
                          last_failure_at: s.lastFailureAt?.timeIntervalSince1970, synced_at: s.syncedAt?.timeIntervalSince1970,
                          verified_at: s.verifiedAt?.timeIntervalSince1970, problem_at: s.problemAt?.timeIntervalSince1970,
                          next_attempt_at: s.nextAttemptAt.timeIntervalSince1970, bytes_done: s.bytesDone)
                }
            }
        }

        static func json<T: Encodable>(_ rows: [T]) throws -> String {
            String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        }
    }

    public func importRepresentations(_ batch: [RepresentationExport]) async throws {
        guard !batch.isEmpty else { return }
        let rows = ImportRows(batch)
        let reps = try ImportRows.json(rows.reps), inputs = try ImportRows.json(rows.inputs)
        let files = try ImportRows.json(rows.files), states = try ImportRows.json(rows.states)
        let projects = Array(Set(rows.reps.map(\.project)))
        let logger = self.logger
        try await transaction { c in
            var known = Set<String>()
            for try await (name) in try await c.query("SELECT name FROM projects WHERE name = ANY(\(projects))", logger: logger).decode(String.self) {
                known.insert(name)
            }
            if let missing = projects.sorted().first(where: { !known.contains($0) }) { throw CatalogError.unknownProject(missing) }
            do {
                try await c.query("""
                    INSERT INTO representations(id, project, folder, product, version, name, task, host, created_at, paused,
                                                product_type, product_kind)
                    SELECT id, project, folder, product, version, name, task, host, created_at, paused, product_type, product_kind
                    FROM jsonb_to_recordset(\(reps)::jsonb) AS x(id text, project text, folder text, product text, version int,
                         name text, task text, host text, created_at float8, paused bool, product_type text, product_kind text)
                    """, logger: logger)
                try await c.query("""
                    INSERT INTO representation_inputs(representation_id, input_id)
                    SELECT representation_id, input_id FROM jsonb_to_recordset(\(inputs)::jsonb) AS x(representation_id text, input_id text)
                    """, logger: logger)
                try await c.query("""
                    INSERT INTO files(id, representation_id, project, position, path, size, sha256)
                    SELECT id, representation_id, project, position, path, size, sha256
                    FROM jsonb_to_recordset(\(files)::jsonb) AS x(id text, representation_id text, project text, position int,
                         path text, size bigint, sha256 text)
                    """, logger: logger)
                try await c.query("""
                    INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, tries, last_error,
                                           last_failure_at, next_attempt_at, bytes_done, synced_at, verified_at, problem, problem_at)
                    SELECT file_id, site, representation_id, project, status, priority, tries, last_error, last_failure_at,
                           next_attempt_at, bytes_done, synced_at, verified_at, problem, problem_at
                    FROM jsonb_to_recordset(\(states)::jsonb) AS x(file_id text, site text, representation_id text, project text,
                         status text, priority int, tries int, last_error text, last_failure_at float8, next_attempt_at float8,
                         bytes_done bigint, synced_at float8, verified_at float8, problem text, problem_at float8)
                    """, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                // A unique constraint: the target already has this representation or a file at this path.
                throw CatalogError.storage("the target already holds some of these representations or paths (\(error.serverInfo?[.detail] ?? "duplicate key")); copy into an empty catalog")
            }
            try await self.bumpGeneration(c)
        }
    }
}
