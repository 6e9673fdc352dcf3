import Foundation
import GRDB
import SiteSyncCatalog
import SiteSyncModel

/// The catalog as a whole: its health report, and every representation out and in (`sitesync catalog copy`).
extension SQLiteCatalog {
    public func report(now: Date) async throws -> CatalogReport {
        try await read { db in
            let applied = try Self.migrator.appliedIdentifiers(db)
            var states: [String: [FileSyncStatus: Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT site, status, COUNT(*) AS n FROM file_sites GROUP BY site, status") {
                guard let status = row["status"] as FileSyncStatus? else { continue }
                states[row["site"], default: [:]][status] = row["n"]
            }
            let t = now.timeIntervalSince1970
            let running = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM file_sites WHERE status = \(SQLState.inProgress) AND lease_expires_at >= ?
                """, arguments: [t]) ?? 0
            let expired = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM file_sites WHERE status = \(SQLState.inProgress) AND lease_expires_at < ?
                """, arguments: [t]) ?? 0
            let owners = try String.fetchAll(db, sql: """
                SELECT DISTINCT lease_owner FROM file_sites
                WHERE status = \(SQLState.inProgress) AND lease_expires_at >= ? AND lease_owner IS NOT NULL ORDER BY 1
                """, arguments: [t])
            return CatalogReport(
                kind: "sqlite", schemaVersion: applied.count, buildSchemaVersion: Self.migrator.migrations.count,
                projects: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM projects") ?? 0,
                representations: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM representations") ?? 0,
                files: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM files") ?? 0,
                states: states, runningLeases: running, expiredLeases: expired, leaseOwners: owners,
                serverPaused: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'server_paused'") == "1",
                hasSettings: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'studio_settings'") != nil)
        }
    }

    public func exportRepresentations(after: String?, limit: Int) async throws -> [RepresentationExport] {
        try await read { db in
            let reps = try Row.fetchAll(db, sql: "SELECT * FROM representations WHERE id > ? ORDER BY id LIMIT ?",
                                        arguments: [after ?? "", max(1, limit)])
            let ids: [String] = reps.map { $0["id"] }
            guard !ids.isEmpty else { return [] }
            // Four queries for the whole page, each through a representation index.
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            let args = StatementArguments(ids)
            var inputs: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT representation_id, input_id FROM representation_inputs WHERE representation_id IN (\(marks)) ORDER BY input_id
                """, arguments: args) {
                inputs[row["representation_id"], default: []].append(row["input_id"])
            }
            var files: [String: [FileRecord]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT \(Self.fileColumns) FROM files f WHERE f.representation_id IN (\(marks)) ORDER BY f.representation_id, f.position
                """, arguments: args) {
                let file = Self.file(row)
                files[file.representationID, default: []].append(file)
            }
            var states: [String: [FileSiteState]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT fs.representation_id, \(Self.stateColumns) FROM file_sites fs
                WHERE fs.representation_id IN (\(marks)) ORDER BY fs.representation_id, fs.file_id, fs.site
                """, arguments: args) {
                states[row[0], default: []].append(Self.state(row, at: 1))
            }
            return reps.map { row in
                let id: String = row["id"]
                return RepresentationExport(representation: Self.representation(row, inputs: inputs[id] ?? []),
                                            files: files[id] ?? [], states: states[id] ?? [])
            }
        }
    }

    public func importRepresentations(_ batch: [RepresentationExport]) async throws {
        guard !batch.isEmpty else { return }
        try await write { db in
            let insertRep = try db.cachedStatement(sql: """
                INSERT INTO representations(id, project, folder, product, version, name, task, host, created_at, paused,
                                            product_type, product_kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertInput = try db.cachedStatement(sql: "INSERT INTO representation_inputs(representation_id, input_id) VALUES (?, ?)")
            let insertFile = try db.cachedStatement(sql: """
                INSERT INTO files(id, representation_id, project, position, path, size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let insertState = try db.cachedStatement(sql: """
                INSERT INTO file_sites(file_id, site, representation_id, project, status, priority, tries, last_error,
                                       last_failure_at, next_attempt_at, bytes_done, lease_owner, lease_expires_at, synced_at,
                                       verified_at, problem, problem_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)
                """)
            for export in batch {
                let rep = export.representation, c = rep.context
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM projects WHERE name = ?", arguments: [c.project]) != nil else {
                    throw CatalogError.unknownProject(c.project)
                }
                do {
                    try insertRep.execute(arguments: [rep.id, c.project, c.folder, c.product, c.version, c.name, c.task, c.host,
                                                      rep.createdAt.timeIntervalSince1970, rep.paused, c.productType,
                                                      c.effectiveProductType])
                } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
                    throw CatalogError.duplicateRepresentation(existingID: rep.id, c)
                }
                for input in rep.inputs { try insertInput.execute(arguments: [rep.id, input]) }
                for (position, file) in export.files.enumerated() {
                    do {
                        try insertFile.execute(arguments: [file.id, rep.id, file.project, position, file.path, file.size, file.sha256])
                    } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
                        throw CatalogError.duplicatePath(file.path)
                    }
                }
                for s in export.states.map(\.importedIntoNewCatalog) {
                    try insertState.execute(arguments: [
                        s.fileID, s.site, rep.id, c.project, s.status, s.priority, s.tries, s.lastError,
                        s.lastFailureAt?.timeIntervalSince1970, s.nextAttemptAt.timeIntervalSince1970, s.bytesDone,
                        s.syncedAt?.timeIntervalSince1970, s.verifiedAt?.timeIntervalSince1970, s.problem,
                        s.problemAt?.timeIntervalSince1970,
                    ])
                }
            }
            try Self.bumpGeneration(db)
        }
    }
}

