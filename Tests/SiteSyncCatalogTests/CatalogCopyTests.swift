import Foundation
import SiteSyncCatalog
import SiteSyncCatalogPostgres
import SiteSyncCatalogSQLite
import SiteSyncEngine
import SiteSyncModel
import SiteSyncTestSupport
import Testing

@Suite("Moving a catalog (catalog copy)")
struct CatalogCopyTests {
    /// Everything a catalog holds, page by page, for comparing two catalogs.
    static func everything(_ catalog: any Catalog) async throws -> [RepresentationExport] {
        var out: [RepresentationExport] = []
        var after: String?
        while true {
            let page = try await catalog.exportRepresentations(after: after, limit: 7)
            guard let last = page.last else { return out }
            out += page
            after = last.representation.id
        }
    }

    /// A studio with history: two projects, one paused; 30 representations with inputs, failures, damage and
    /// verifications; a paused representation; studio settings; the servers paused.
    static func studio(_ catalog: any Catalog) async throws {
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)
        try await catalog.setStudioSettingsYAML("enabled: true\nsites: {backup: {provider: local_drive, roots: {work: /mnt/backup}}}\n")
        for project in ["robots", "aliens"] { try await catalog.addProject(project, now: t0) }
        try await catalog.setProjectPaused("aliens", paused: true)
        try await catalog.setServerPaused(true)
        var previous: String?
        for v in 0..<30 {
            let project = v % 3 == 0 ? "aliens" : "robots"
            let id = String(format: "rep-%03d", v)
            let rep = RepresentationRecord(id: id, context: RepresentationContext(project: project, folder: "chars/c\(v % 4)",
                product: v % 5 == 0 ? "workfileModeling" : "model", version: v, name: "ma", task: "modeling", host: "maya",
                productType: v % 2 == 0 ? "model" : nil), createdAt: t0.addingTimeInterval(Double(v)), inputs: previous.map { [$0] } ?? [])
            let files = (0..<(1 + v % 4)).map { i in
                FileRecord(id: "\(id)-\(i)", representationID: id, project: project, path: "{root[work]}/\(project)/\(v)/f\(i).ma",
                           size: Int64(1000 * v + i), sha256: String(repeating: String(i % 10), count: 64))
            }
            try await catalog.insertRepresentation(rep, files: files, sites: ["studio": .synced, "backup": .queued],
                                                   priority: 40 + v, now: t0)
            if v % 7 == 0 { try await catalog.setRepresentationPaused(id, paused: true, now: t0) }
            if v % 6 == 1 {
                try await catalog.markDamaged(fileID: files[0].id, sites: ["studio"], status: .missing, problem: "verify: gone", now: t0)
            }
            if v % 4 == 2 { try await catalog.markVerified(fileID: files[0].id, sites: ["studio"], now: t0.addingTimeInterval(5)) }
            previous = id
        }
        // Failures with their tries and errors, then a completed copy.
        let items = try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots", "aliens"],
                                                         owner: "old-server", now: t0.addingTimeInterval(10),
                                                         leaseUntil: t0.addingTimeInterval(70), limit: 6))
        #expect(items.count == 6)
        for (n, item) in items.enumerated() {
            switch n % 3 {
            case 0: try await catalog.completeTransfer(item.key, owner: "old-server", alternates: [], now: t0.addingTimeInterval(11))
            case 1: try await catalog.failTransfer(item.key, owner: "old-server", error: "sftp: connection reset", retryAt: nil,
                                                   countsAsTry: true, now: t0.addingTimeInterval(12))
            default: break  // left running under a lease that expired long ago
            }
        }
    }

    @Test("SQLite → PostgreSQL → SQLite keeps every representation, file and state; running rows arrive queued")
    func roundTrip() async throws {
        let dir = try TemporaryDirectory("catalog-copy")
        let sqlite = try SQLiteCatalog(path: "\(dir.path)/studio.sqlite")
        try await Self.studio(sqlite)
        let pg = try PostgresCatalog(url: try await SharedPostgres.database(), create: true)
        let copied = try await CatalogAdmin.copy(from: sqlite, to: pg, now: Date(), pageSize: 4)
        #expect(copied.representations == 30 && copied.projects == 2 && copied.requeued == 2)
        #expect(copied.files == (0..<30).map { 1 + $0 % 4 }.reduce(0, +))
        #expect(copied.states == copied.files * 2)

        let original = try await Self.everything(sqlite)
        let expected = original.map { e in
            var e = e
            e.states = e.states.map(\.importedIntoNewCatalog)
            return e
        }
        #expect(try await Self.everything(pg) == expected)
        #expect(try await pg.studioSettingsYAML() == sqlite.studioSettingsYAML())
        #expect(try await pg.projects().sorted { $0.name < $1.name } == [ProjectRecord(name: "aliens", paused: true),
                                                                         ProjectRecord(name: "robots", paused: false)])
        #expect(try await pg.isServerPaused())
        let report = try await pg.report(now: Date())
        #expect(report.states["backup"]?[.failed] == 2 && report.states["backup"]?[.synced] == 2 && report.states["studio"]?[.missing] == 5)

        // And back into a new SQLite file: the same again.
        let back = try SQLiteCatalog(path: "\(dir.path)/back.sqlite")
        _ = try await CatalogAdmin.copy(from: pg, to: back, now: Date())
        #expect(try await Self.everything(back) == expected)
        // The copy is a working catalog: the queued rows are claimable in priority order.
        let claimed = try await back.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "new",
                                                        now: Date(), leaseUntil: Date().addingTimeInterval(60), limit: 1))
        let best = expected.filter { $0.representation.context.project == "robots" }.flatMap(\.states)
            .filter { $0.site == "backup" && $0.status == .queued }.map(\.priority).max()
        #expect(claimed.count == 1 && claimed.first?.priority == best)
    }

    @Test("a target that holds anything is refused, and so is a source with a running transfer")
    func refusals() async throws {
        let dir = try TemporaryDirectory("catalog-copy-refused")
        let source = try SQLiteCatalog(path: "\(dir.path)/a.sqlite")
        try await Self.studio(source)
        let busy = try SQLiteCatalog(path: "\(dir.path)/busy.sqlite")
        try await busy.addProject("robots", now: Date())
        await #expect(throws: SiteSyncError.self) { try await CatalogAdmin.copy(from: source, to: busy, now: Date()) }
        do {
            _ = try await CatalogAdmin.copy(from: source, to: busy, now: Date())
        } catch let e as SiteSyncError {
            #expect(e.kind == .conflict && "\(e)".contains("not empty"), "\(e)")
        }
        #expect(try await busy.report(now: Date()).representations == 0)

        // A server still running a transfer on the source (its lease has not expired): stop it first.
        let now = Date()
        _ = try await source.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "ws-anna",
                                                now: now, leaseUntil: now.addingTimeInterval(600), limit: 1))
        let empty = try SQLiteCatalog(path: "\(dir.path)/empty.sqlite")
        do {
            _ = try await CatalogAdmin.copy(from: source, to: empty, now: now)
            Issue.record("a source with a running transfer must be refused")
        } catch let e as SiteSyncError {
            #expect(e.kind == .conflict && "\(e)".contains("ws-anna") && "\(e)".contains("stop the sync servers"), "\(e)")
        }
        #expect(try await empty.report(now: now).isEmpty)
    }
}
