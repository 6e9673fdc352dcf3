import Foundation
import GRDB
import GRDBSQLite
import SiteSyncCatalog
import SiteSyncCatalogSQLite
import SiteSyncModel
import SiteSyncTestSupport
import Testing

@Suite("SQLite catalog")
struct SQLiteCatalogTests {
    @Test("conformance", arguments: CatalogConformance.names)
    func conformance(_ name: String) async throws {
        let dir = try TemporaryDirectory("catalog")
        let catalog = try SQLiteCatalog(path: "\(dir.path)/catalog.sqlite")
        try await CatalogConformance.run(name, on: catalog)
    }

    /// A catalog with history: 200 representations × 100 files synced on studio and backup, 10 files pending.
    static func seeded(_ catalog: SQLiteCatalog) async throws {
        try await catalog.addProject("robots", now: Date())
        for v in 0..<200 {
            let id = "rep-\(v)"
            let rep = RepresentationRecord(id: id, context: RepresentationContext(project: "robots", folder: "f", product: "p",
                                                                                  version: v, name: "n"), createdAt: Date())
            let files = (0..<100).map { i in
                FileRecord(id: "\(id)-\(i)", representationID: id, project: "robots", path: "{root[work]}/\(v)/\(i)",
                           size: 1, sha256: String(repeating: "a", count: 64))
            }
            try await catalog.insertRepresentation(rep, files: files, sites: ["studio": .synced, "backup": .synced],
                                                   priority: 50, now: Date())
        }
        let rep = RepresentationRecord(id: "new", context: RepresentationContext(project: "robots", folder: "f", product: "p",
                                                                                 version: 999, name: "n"), createdAt: Date())
        try await catalog.insertRepresentation(rep, files: (0..<10).map {
            FileRecord(id: "new-\($0)", representationID: "new", project: "robots", path: "{root[work]}/new/\($0)",
                       size: 1, sha256: String(repeating: "b", count: 64))
        }, sites: ["studio": .synced, "backup": .queued], priority: 50, now: Date())
    }

    @Test("picking work uses the pending index, not a scan of every row (on a catalog with history, analyzed)")
    func claimUsesIndex() async throws {
        let dir = try TemporaryDirectory("catalog")
        let catalog = try SQLiteCatalog(path: "\(dir.path)/catalog.sqlite")
        try await Self.seeded(catalog)
        // The planner's statistics of a real catalog, not an empty one's defaults.
        try await catalog.pool.write { db in try db.execute(sql: "ANALYZE") }
        for preferred in [0, 2] {
            let plan = try await catalog.claimQueryPlan(projectCount: 3, preferredCount: preferred)
            let text = plan.joined(separator: "\n")
            #expect(text.contains("file_sites_pending"), "plan:\n\(text)")
            // The outer loop runs over queued rows of one site through the partial index; the synced source row,
            // the file and a fallback's preferred copies are looked up by primary key. No step scans a table.
            #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("USING") }, "plan:\n\(text)")
            #expect(!text.contains("USE TEMP B-TREE FOR ORDER BY"), "sorting must come from the index:\n\(text)")
        }
        // A server giving its leases back at exit finds its rows by index, not by scanning every row.
        let release = try await catalog.releaseQueryPlans()
        #expect(release.allSatisfy { $0.contains("file_sites_by_owner") }, "plans:\n\(release.joined(separator: "\n"))")
    }

    @Test("finding the next due transfer follows pending and running work: 20,000 synced files do not slow it")
    func nextAttemptScales() async throws {
        let dir = try TemporaryDirectory("catalog")
        let catalog = try SQLiteCatalog(path: "\(dir.path)/catalog.sqlite")
        try await Self.seeded(catalog)
        // Between refills a server asks when the next queued or leased transfer is due: on a site with 20,000
        // synced copies that must visit the few pending and running rows, not every copy.
        for (sql, args) in [(SQLiteCatalog.waitingSQL(projectCount: 1), StatementArguments(["studio", "backup", 0.0, "robots"] as [(any DatabaseValueConvertible)?])),
                            (SQLiteCatalog.leasedSQL(projectCount: 1), StatementArguments(["studio", "backup", "robots"] as [(any DatabaseValueConvertible)?]))] {
            let visited = try await catalog.pool.read { db -> Int in
                let statement = try db.makeStatement(sql: sql)
                try statement.setArguments(args)
                _ = try Row.fetchAll(statement)
                return Int(sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 0))
            }
            #expect(visited < 2_000, "\(visited) VM steps over a 40,000-row catalog:\n\(sql)")
        }
        #expect(try await catalog.nextAttempt(source: "studio", target: "backup", projects: ["robots"], preferred: [],
                                              representations: nil, after: Date.distantPast) != nil)
    }

    @Test("claim cost follows pending work: 20,000 synced files do not slow picking 10")
    func claimScales() async throws {
        let dir = try TemporaryDirectory("catalog")
        let catalog = try SQLiteCatalog(path: "\(dir.path)/catalog.sqlite")
        try await Self.seeded(catalog)
        // SQLite counts the rows each step visits: the claim must visit about the pending rows, not 40,000.
        let visited = try await catalog.pool.read { db -> Int in
            let statement = try db.makeStatement(sql: SQLiteCatalog.claimSQL(projectCount: 1))
            try statement.setArguments(["studio", "backup", Date().timeIntervalSince1970 + 1, "robots", 10])
            _ = try Row.fetchAll(statement)
            return Int(sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 0))
        }
        #expect(visited < 2_000, "the claim query took \(visited) VM steps over a 40,000-row catalog")
        let items = try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"],
            owner: "o", now: Date().addingTimeInterval(1), leaseUntil: Date().addingTimeInterval(60), limit: 10))
        #expect(items.count == 10)
    }

    @Test("a missing catalog is a clear error when not asked to create one")
    func missingCatalog() throws {
        let dir = try TemporaryDirectory("catalog")
        #expect(throws: CatalogError.self) { try SQLiteCatalog(path: "\(dir.path)/none.sqlite", create: false) }
        do {
            _ = try SQLiteCatalog(path: "\(dir.path)/none.sqlite", create: false)
        } catch {
            #expect("\(error)".contains("sitesync init"))
        }
    }

    @Test("a catalog upgraded by a newer sitesync is refused, with the fix")
    func newerSchema() async throws {
        let dir = try TemporaryDirectory("catalog")
        let path = "\(dir.path)/catalog.sqlite"
        _ = try SQLiteCatalog(path: path)
        let queue = try DatabaseQueue(path: path)
        try await queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('v99: from the future')") }
        try queue.close()
        do {
            _ = try SQLiteCatalog(path: path, create: false)
            Issue.record("a newer schema must be refused")
        } catch {
            #expect("\(error)".contains("upgraded by a newer sitesync") && "\(error)".contains("upgrade sitesync on this machine"), "\(error)")
        }
    }
}
