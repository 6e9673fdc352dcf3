import Foundation
import SiteSyncCatalog
import SiteSyncModel
import Testing

/// The behaviour every `Catalog` must have. Each case gets a fresh, empty catalog.
///
/// Run it from a test target with `@Test(arguments: CatalogConformance.names)` and `CatalogConformance.run`.
public enum CatalogConformance {
    public typealias Case = @Sendable (any Catalog) async throws -> Void

    public static let cases: [(name: String, run: Case)] = [
        ("settings and server flag", settingsAndFlags),
        ("projects", projects),
        ("insert and read a representation", insertAndRead),
        ("a project's representations filtered, sorted and paged, with the total", query),
        ("duplicates are refused", duplicates),
        ("add-site, alternates and force", addSite),
        ("claim picks by priority then age, only with a synced source", claimOrder),
        ("claimed work is not claimed twice", claimOnce),
        ("a claim budget takes files in order while they fit and never passes a large one over", claimBudget),
        ("failure backs off, then fails for good", failureAndBackoff),
        ("quota failures do not count a try", quotaDoesNotCount),
        ("leases: renew, expire, take over", leases),
        ("completion marks alternates synced", completionAndAlternates),
        ("remove-site refuses the last copy", removeSite),
        ("reset re-queues and refuses the only copy", reset),
        ("pause and resume a representation", pauseResume),
        ("summaries count states per site", summaries),
        ("summaries come in pages, in order, filtered", paging),
        ("work generation grows with new work", generation),
        ("the report counts every site's states and the leases running and expired", report),
        ("exported representations import with every state as it was", exportImport),
        ("activity: every server's running copies with their bytes, and the latest outcomes with reasons", activity),
    ]

    public static var names: [String] { cases.map(\.name) }

    /// Cases that need several connections to one catalog at once (several machines, several servers).
    public typealias SharedCase = @Sendable (_ connect: @escaping @Sendable () throws -> any Catalog) async throws -> Void

    public static let sharedCases: [(name: String, run: SharedCase)] = [
        ("servers claiming the same pair at once get disjoint rows", disjointClaims),
        ("a lease taken over is lost to its first owner everywhere", takeoverAcrossConnections),
    ]

    public static var sharedNames: [String] { sharedCases.map(\.name) }

    public static func runShared(_ name: String, connect: @escaping @Sendable () throws -> any Catalog) async throws {
        guard let c = sharedCases.first(where: { $0.name == name }) else {
            Issue.record("no shared conformance case '\(name)'")
            return
        }
        try await c.run(connect)
    }

    static func disjointClaims(_ connect: @escaping @Sendable () throws -> any Catalog) async throws {
        let first = try connect()
        for v in 0..<4 { try await seed(first, version: v, files: 50) }
        // Eight servers, each with its own connection, claim small batches until nothing is left.
        let claimed = try await withThrowingTaskGroup(of: [FileKey].self) { group in
            for server in 0..<8 {
                group.addTask {
                    let catalog = try connect()
                    var mine: [FileKey] = []
                    while true {
                        let items = try await claim(catalog, owner: "server-\(server)", limit: 7)
                        if items.isEmpty { break }
                        mine += items.map(\.key)
                    }
                    return mine
                }
            }
            var all: [FileKey] = []
            for try await keys in group { all += keys }
            return all
        }
        #expect(claimed.count == 200, "\(claimed.count) claims for 200 rows")
        #expect(Set(claimed).count == claimed.count, "a row was claimed twice")
    }

    /// For catalogs shared by machines (leases by the database's clock): a machine whose clock runs an hour ahead
    /// neither expires nor takes the lease of a machine that renews it in time.
    public static func skewedClocks(_ connect: @escaping @Sendable () throws -> any Catalog) async throws {
        let a = try connect(), ahead = try connect()
        let now = Date()
        try await seed(a, files: 2, now: now.addingTimeInterval(-10))
        let items = try await a.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "machine-a",
                                                   now: now, leaseUntil: now.addingTimeInterval(60), limit: 10))
        #expect(items.count == 2)
        let skewed = now.addingTimeInterval(3600)
        #expect(try await ahead.requeueExpiredLeases(now: skewed) == 0, "a clock an hour ahead expired a fresh lease")
        #expect(try await claim(ahead, owner: "machine-ahead", now: skewed).isEmpty)
        #expect(try await a.renewLeases(owner: "machine-a", keys: items.map(\.key), now: now, until: now.addingTimeInterval(60)).count == 2)
        #expect(try await a.completeTransfer(items[0].key, owner: "machine-a", alternates: [], now: now) == true)
    }

    static func takeoverAcrossConnections(_ connect: @escaping @Sendable () throws -> any Catalog) async throws {
        let a = try connect(), b = try connect()
        try await seed(a, files: 3)
        let now = t0.addingTimeInterval(1)
        let items = try await a.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "machine-a",
                                                   now: now, leaseUntil: now.addingTimeInterval(1), limit: 10))
        #expect(items.count == 3)
        try await Task.sleep(nanoseconds: 1_300_000_000)
        #expect(try await b.requeueExpiredLeases(now: now.addingTimeInterval(2.5)) == 3)
        let taken = try await claim(b, owner: "machine-b", now: now.addingTimeInterval(3))
        #expect(Set(taken.map(\.key)) == Set(items.map(\.key)))
        #expect(try await a.renewLeases(owner: "machine-a", keys: items.map(\.key), now: now, until: now.addingTimeInterval(60)).isEmpty)
        #expect(try await a.completeTransfer(items[0].key, owner: "machine-a", alternates: [], now: now) == false)
        #expect(try await a.failTransfer(items[1].key, owner: "machine-a", error: "late", retryAt: nil, countsAsTry: true, now: now) == nil)
        #expect(try await b.completeTransfer(items[0].key, owner: "machine-b", alternates: [], now: now) == true)
    }

    public static func run(_ name: String, on catalog: any Catalog) async throws {
        guard let c = cases.first(where: { $0.name == name }) else {
            Issue.record("no conformance case '\(name)'")
            return
        }
        try await c.run(catalog)
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// A representation with `files` files in project `p`, synced on `synced`, queued on `queued`.
    @discardableResult
    static func seed(_ catalog: any Catalog, project p: String = "robots", version: Int = 1, files: Int = 2,
                     sites: [String: FileSyncStatus] = ["studio": .synced, "backup": .queued],
                     priority: Int = 50, sizes: [Int64]? = nil, now: Date = t0) async throws -> (RepresentationRecord, [FileRecord]) {
        try await catalog.addProject(p, now: now)
        let id = UUID().uuidString.lowercased()
        let rep = RepresentationRecord(id: id, context: RepresentationContext(project: p, folder: "chars/anna",
            product: "model", version: version, name: "ma"), createdAt: now)
        let records = (0..<files).map { i in
            FileRecord(id: UUID().uuidString.lowercased(), representationID: id, project: p,
                       path: "{root[work]}/\(p)/chars/anna/publish/model/v\(version)/f\(i).ma", size: sizes?[i] ?? Int64(100 + i),
                       sha256: String(repeating: "\(i % 10)", count: 64))
        }
        try await catalog.insertRepresentation(rep, files: records, sites: sites, priority: priority, now: now)
        return (rep, records)
    }

    static func claim(_ catalog: any Catalog, _ source: String = "studio", _ target: String = "backup",
                      owner: String = "o1", projects: [String] = ["robots"], now: Date = t0.addingTimeInterval(1),
                      limit: Int = 100) async throws -> [WorkItem] {
        try await catalog.claim(ClaimRequest(source: source, target: target, projects: projects, owner: owner, now: now,
                                             leaseUntil: now.addingTimeInterval(60), limit: limit))
    }

    static func settingsAndFlags(_ catalog: any Catalog) async throws {
        #expect(try await catalog.studioSettingsYAML() == nil)
        // Replacing is compare-and-swap: an import based on text another admin has changed meanwhile is refused.
        #expect(try await catalog.replaceStudioSettingsYAML("first: 1\n", ifStill: "something else") == false)
        #expect(try await catalog.replaceStudioSettingsYAML("first: 1\n", ifStill: nil) == true)
        #expect(try await catalog.replaceStudioSettingsYAML("second: 2\n", ifStill: nil) == false)
        #expect(try await catalog.replaceStudioSettingsYAML("second: 2\n", ifStill: "first: 1\n") == true)
        #expect(try await catalog.studioSettingsYAML() == "second: 2\n")
        try await catalog.setStudioSettingsYAML("enabled: true\n")
        #expect(try await catalog.studioSettingsYAML() == "enabled: true\n")
        #expect(try await catalog.isServerPaused() == false)
        try await catalog.setServerPaused(true)
        #expect(try await catalog.isServerPaused() == true)
        try await catalog.setServerPaused(false)
        #expect(try await catalog.isServerPaused() == false)
    }

    static func projects(_ catalog: any Catalog) async throws {
        try await catalog.addProject("robots", now: t0)
        try await catalog.addProject("robots", now: t0)
        try await catalog.addProject("aliens", now: t0)
        #expect(try await catalog.projects() == [ProjectRecord(name: "aliens", paused: false), ProjectRecord(name: "robots", paused: false)])
        try await catalog.setProjectPaused("robots", paused: true)
        #expect(try await catalog.projects().first { $0.name == "robots" }?.paused == true)
        await #expect(throws: CatalogError.unknownProject("nope")) {
            try await catalog.setProjectPaused("nope", paused: true)
        }
    }

    static func insertAndRead(_ catalog: any Catalog) async throws {
        let (rep, files) = try await seed(catalog, files: 3)
        let read = try #require(try await catalog.representation(rep.id))
        #expect(read.context == rep.context)
        #expect(read.paused == false)
        #expect(try await catalog.representationID(for: rep.context) == rep.id)
        #expect(try await catalog.files(ofRepresentation: rep.id) == files)
        let states = try await catalog.states(ofRepresentation: rep.id)
        #expect(states.count == 6)
        #expect(states.filter { $0.site == "studio" }.allSatisfy { $0.status == .synced && $0.syncedAt != nil })
        #expect(states.filter { $0.site == "backup" }.allSatisfy { $0.status == .queued && $0.tries == 0 && $0.priority == 50 })
        #expect(try await catalog.representation("missing") == nil)
        // Abbreviated ids, as `show 5ca81a92` gives them.
        #expect(try await catalog.representationIDs(withPrefix: String(rep.id.prefix(2)), limit: 5) == [rep.id])
        #expect(try await catalog.representationIDs(withPrefix: rep.id, limit: 5) == [rep.id])
        #expect(try await catalog.representationIDs(withPrefix: rep.id + "x", limit: 5).isEmpty)
        #expect(try await catalog.representationIDs(withPrefix: "zz", limit: 5).isEmpty)
    }

    static func query(_ catalog: any Catalog) async throws {
        try await catalog.addProject("robots", now: t0)
        try await catalog.addProject("other", now: t0)
        @discardableResult
        func rep(_ project: String, _ folder: String, _ product: String, _ version: Int, _ name: String, sizes: [Int64],
                 backup: FileSyncStatus, at seconds: Double) async throws -> String {
            let id = UUID().uuidString.lowercased()
            let context = RepresentationContext(project: project, folder: folder, product: product, version: version, name: name)
            let files = sizes.enumerated().map { i, size in
                FileRecord(id: UUID().uuidString.lowercased(), representationID: id, project: project,
                           path: "{root[work]}/\(project)/\(folder)/\(product)/v\(version)/f\(i).\(name)", size: size,
                           sha256: String(repeating: "a", count: 64))
            }
            try await catalog.insertRepresentation(RepresentationRecord(id: id, context: context, createdAt: t0.addingTimeInterval(seconds)),
                                                   files: files, sites: ["studio": .synced, "backup": backup], priority: 50,
                                                   now: t0.addingTimeInterval(seconds))
            return id
        }
        let a = try await rep("robots", "chars/anna", "modelMain", 1, "ma", sizes: [100], backup: .queued, at: 0)
        let b = try await rep("robots", "chars/bob", "modelMain", 2, "abc", sizes: [300, 300], backup: .synced, at: 10)
        let c = try await rep("robots", "shots/sh010", "renderMain", 1, "exr", sizes: [1000, 1000, 1000], backup: .failed, at: 5)
        try await rep("other", "chars/anna", "modelMain", 1, "ma", sizes: [1], backup: .queued, at: 1)
        func ids(_ q: RepresentationQuery) async throws -> [String] {
            try await catalog.representations(matching: q).items.map(\.representation.id)
        }
        let all = try await catalog.representations(matching: RepresentationQuery(project: "robots"))
        #expect(all.total == 3 && all.items.map(\.representation.id) == [a, b, c])
        #expect(all.items.first?.fileCount == 1 && all.items.last?.totalBytes == 3000, "pages carry the summaries")
        #expect(try await ids(RepresentationQuery(project: "robots", folder: "chars/bob")) == [b])
        #expect(try await ids(RepresentationQuery(project: "robots", version: 2)) == [b])
        #expect(try await ids(RepresentationQuery(project: "robots", product: "renderMain", name: "exr")) == [c])
        #expect(try await ids(RepresentationQuery(project: "robots", text: "ANNA")) == [a], "text search ignores case")
        #expect(try await ids(RepresentationQuery(project: "robots", text: "main")).count == 3)
        #expect(try await ids(RepresentationQuery(project: "robots", text: "%")).isEmpty, "% is a character, not a wildcard")
        #expect(try await ids(RepresentationQuery(project: "robots", site: "backup", status: .synced)) == [b])
        #expect(try await ids(RepresentationQuery(project: "robots", site: "backup", status: .failed)) == [c])
        #expect(try await ids(RepresentationQuery(project: "robots", site: "backup", status: .queued)) == [a])
        #expect(try await ids(RepresentationQuery(project: "robots", site: "studio", status: .synced)).count == 3)
        #expect(try await ids(RepresentationQuery(project: "robots", site: "nowhere")).isEmpty)
        #expect(try await ids(RepresentationQuery(project: "robots", sort: .size, descending: true)) == [c, b, a])
        #expect(try await ids(RepresentationQuery(project: "robots", sort: .created)) == [a, c, b])
        #expect(try await ids(RepresentationQuery(project: "robots", sort: .product)) == [a, b, c])
        #expect(try await ids(RepresentationQuery(project: "robots", sort: .priority, descending: true)).count == 3)
        let second = try await catalog.representations(matching: RepresentationQuery(project: "robots", page: 2, pageSize: 2))
        #expect(second.total == 3 && second.items.map(\.representation.id) == [c] && second.page == 2 && second.pageSize == 2)
        #expect(try await ids(RepresentationQuery(project: "robots", page: 3, pageSize: 2)).isEmpty)
    }

    static func duplicates(_ catalog: any Catalog) async throws {
        let (rep, files) = try await seed(catalog)
        let again = RepresentationRecord(id: "other", context: rep.context, createdAt: t0)
        await #expect(throws: CatalogError.duplicateRepresentation(existingID: rep.id, rep.context)) {
            try await catalog.insertRepresentation(again, files: [], sites: [:], priority: 50, now: t0)
        }
        var context = rep.context
        context.version = 2
        let samePath = FileRecord(id: "f-x", representationID: "other2", project: "robots", path: files[0].path,
                                  size: 1, sha256: String(repeating: "a", count: 64))
        await #expect(throws: CatalogError.duplicatePath(files[0].path)) {
            try await catalog.insertRepresentation(RepresentationRecord(id: "other2", context: context, createdAt: t0),
                                                   files: [samePath], sites: ["studio": .synced], priority: 50, now: t0)
        }
        // Nothing of the refused representation was kept.
        #expect(try await catalog.representation("other2") == nil)
        let unknown = RepresentationRecord(id: "x", context: RepresentationContext(project: "nope", folder: "a",
            product: "b", version: 1, name: "c"), createdAt: t0)
        await #expect(throws: CatalogError.unknownProject("nope")) {
            try await catalog.insertRepresentation(unknown, files: [], sites: [:], priority: 50, now: t0)
        }
    }

    static func addSite(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, sites: ["studio": .synced])
        #expect(try await catalog.addSite(representation: rep.id, site: "backup", group: ["backup"], priority: 70,
                                          force: false, now: t0) == 2)
        var states = try await catalog.states(ofRepresentation: rep.id).filter { $0.site == "backup" }
        #expect(states.map(\.status) == [.queued, .queued])
        #expect(states.map(\.priority) == [70, 70])
        await #expect(throws: CatalogError.siteAlreadyPresent(site: "backup", representationID: rep.id)) {
            try await catalog.addSite(representation: rep.id, site: "backup", group: ["backup"], priority: nil,
                                      force: false, now: t0)
        }
        // An alternate of a site that has the file: synced at once, nothing to transfer.
        try await catalog.addSite(representation: rep.id, site: "vendor", group: ["vendor", "studio"], priority: nil,
                                  force: false, now: t0)
        states = try await catalog.states(ofRepresentation: rep.id).filter { $0.site == "vendor" }
        #expect(states.map(\.status) == [.synced, .synced])
        // Force re-queues a failed row and clears its tries.
        let items = try await claim(catalog)
        try await catalog.failTransfer(items[0].key, owner: "o1", error: "boom", retryAt: nil, countsAsTry: true, now: t0)
        try await catalog.addSite(representation: rep.id, site: "backup", group: ["backup"], priority: nil, force: true, now: t0)
        states = try await catalog.states(ofRepresentation: rep.id).filter { $0.site == "backup" }
        #expect(states.allSatisfy { $0.status == .queued && $0.tries == 0 && $0.lastError == nil })
        await #expect(throws: CatalogError.unknownRepresentation("nope")) {
            try await catalog.addSite(representation: "nope", site: "backup", group: [], priority: nil, force: false, now: t0)
        }
    }

    static func claimOrder(_ catalog: any Catalog) async throws {
        let (low, _) = try await seed(catalog, version: 1, files: 1, priority: 10, now: t0)
        let (high, _) = try await seed(catalog, version: 2, files: 1, priority: 90, now: t0.addingTimeInterval(0.5))
        let (oldNormal, _) = try await seed(catalog, version: 3, files: 1, priority: 50, now: t0.addingTimeInterval(-5))
        let (newNormal, _) = try await seed(catalog, version: 4, files: 1, priority: 50, now: t0.addingTimeInterval(0.2))
        // Source not synced: not runnable.
        try await seed(catalog, version: 5, files: 1, sites: ["studio": .queued, "backup": .queued])
        // Another project, not asked for.
        try await seed(catalog, project: "aliens", files: 1)
        let items = try await claim(catalog)
        #expect(items.map(\.file.representationID) == [high.id, oldNormal.id, newNormal.id, low.id])
        #expect(items.allSatisfy { $0.source == "studio" && $0.target == "backup" && $0.tries == 0 })
        #expect(items.map(\.priority) == [90, 50, 50, 10])
        let limited = try await claim(catalog, "studio", "backup", owner: "o2", projects: ["aliens"], limit: 1)
        #expect(limited.count == 1)
        #expect(limited[0].file.project == "aliens")
    }

    static func claimOnce(_ catalog: any Catalog) async throws {
        try await seed(catalog, files: 5)
        let first = try await claim(catalog, owner: "a", limit: 3)
        let second = try await claim(catalog, owner: "b", limit: 10)
        #expect(first.count == 3)
        #expect(second.count == 2)
        #expect(Set(first.map(\.file.id)).isDisjoint(with: second.map(\.file.id)))
        #expect(try await claim(catalog, owner: "c").isEmpty)
        let states = try await catalog.states(ofRepresentation: first[0].file.representationID).filter { $0.site == "backup" }
        #expect(states.allSatisfy { $0.status == .inProgress && $0.leaseOwner != nil })
    }

    static func claimBudget(_ catalog: any Catalog) async throws {
        let (a, _) = try await seed(catalog, version: 1, files: 1, priority: 90, sizes: [10])
        let (b, _) = try await seed(catalog, version: 2, files: 1, priority: 80, sizes: [5000])
        let (c, _) = try await seed(catalog, version: 3, files: 1, priority: 70, sizes: [10])
        func claim(_ owner: String, units: Int) async throws -> [String] {
            let now = t0.addingTimeInterval(1)
            return try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: owner, now: now,
                leaseUntil: now.addingTimeInterval(60), limit: 100,
                budget: ClaimBudget(units: units, smallFileSize: 1000, smallCost: 1, largeCost: 16))).map(\.file.representationID)
        }
        // The large file does not fit in 10 units: the small one behind it waits too (priority order holds).
        #expect(try await claim("o1", units: 10) == [a.id])
        #expect(try await claim("o2", units: 16) == [b.id])
        #expect(try await claim("o3", units: 1) == [c.id])
        #expect(try await claim("o4", units: 100).isEmpty)
    }

    static func failureAndBackoff(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 1)
        var now = t0.addingTimeInterval(1)
        var item = try #require(try await claim(catalog, now: now).first)
        let retryAt = now.addingTimeInterval(30)
        #expect(try await catalog.failTransfer(item.key, owner: "o1", error: "disk full", retryAt: retryAt,
                                               countsAsTry: true, now: now) == .queued)
        #expect(try await claim(catalog, now: now.addingTimeInterval(10)).isEmpty)
        let next = try await catalog.nextAttempt(source: "studio", target: "backup", projects: ["robots"], preferred: [], representations: nil, after: now)
        #expect(next.map { abs($0.timeIntervalSince(retryAt)) < 0.01 } == true)
        var state = try #require(try await catalog.states(ofRepresentation: rep.id).first { $0.site == "backup" })
        #expect(state.tries == 1)
        #expect(state.lastError == "disk full")
        #expect(state.lastFailureAt != nil)
        now = retryAt.addingTimeInterval(1)
        item = try #require(try await claim(catalog, now: now).first)
        #expect(item.tries == 1)
        #expect(try await catalog.failTransfer(item.key, owner: "o1", error: "still full", retryAt: nil,
                                               countsAsTry: true, now: now) == .failed)
        state = try #require(try await catalog.states(ofRepresentation: rep.id).first { $0.site == "backup" })
        #expect(state.status == .failed)
        #expect(state.tries == 2)
        #expect(state.lastError == "still full")
        #expect(try await claim(catalog, now: now.addingTimeInterval(3600)).isEmpty)
        #expect(try await catalog.nextAttempt(source: "studio", target: "backup", projects: ["robots"], preferred: [], representations: nil, after: now) == nil)
        // A stale owner cannot record anything.
        #expect(try await catalog.failTransfer(item.key, owner: "o1", error: "x", retryAt: nil, countsAsTry: true, now: now) == nil)
    }

    static func quotaDoesNotCount(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 1)
        let item = try #require(try await claim(catalog).first)
        try await catalog.failTransfer(item.key, owner: "o1", error: "rate limited", retryAt: t0.addingTimeInterval(2),
                                       countsAsTry: false, now: t0.addingTimeInterval(1))
        let state = try #require(try await catalog.states(ofRepresentation: rep.id).first { $0.site == "backup" })
        #expect(state.tries == 0)
        #expect(state.status == .queued)
        #expect(state.lastError == "rate limited")
    }

    static func leases(_ catalog: any Catalog) async throws {
        try await seed(catalog, files: 2)
        let now = t0.addingTimeInterval(1)
        // Short leases that really run out: a catalog may time leases by its own clock (PostgreSQL's). Three
        // seconds: long enough that a loaded machine still asks before they end.
        let items = try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "crashed",
                                                         now: now, leaseUntil: now.addingTimeInterval(3), limit: 10))
        #expect(items.count == 2)
        let held = try await catalog.renewLeases(owner: "crashed", keys: items.map(\.key), now: now, until: now.addingTimeInterval(3))
        #expect(held == Set(items.map(\.key)))
        #expect(try await catalog.renewLeases(owner: "someone-else", keys: items.map(\.key), now: now, until: now.addingTimeInterval(3)).isEmpty)
        #expect(try await catalog.leasesHeld(owner: "crashed", keys: items.map(\.key)) == Set(items.map(\.key)))
        // Not expired yet: nothing to take over.
        #expect(try await catalog.requeueExpiredLeases(now: now.addingTimeInterval(0.5)) == 0)
        try await Task.sleep(nanoseconds: 3_300_000_000)
        #expect(try await catalog.requeueExpiredLeases(now: now.addingTimeInterval(4.5)) == 2)
        #expect(try await catalog.leasesHeld(owner: "crashed", keys: items.map(\.key)).isEmpty)
        let taken = try await claim(catalog, owner: "second", now: now.addingTimeInterval(122))
        #expect(Set(taken.map(\.key)) == Set(items.map(\.key)))
        // The first owner's late completion is refused.
        #expect(try await catalog.completeTransfer(items[0].key, owner: "crashed", alternates: [], now: now) == false)
        #expect(try await catalog.renewLeases(owner: "crashed", keys: items.map(\.key), now: now, until: now.addingTimeInterval(60)).isEmpty,
                "a lost lease must be reported lost when renewed")
        #expect(try await catalog.completeTransfer(items[0].key, owner: "second", alternates: [], now: now) == true)
        try await catalog.reportProgress(items[1].key, owner: "second", bytesDone: 42)
        let state = try #require(try await catalog.states(ofRepresentation: items[1].file.representationID)
            .first { $0.fileID == items[1].file.id && $0.site == "backup" })
        #expect(state.bytesDone == 42)
        try await catalog.releaseLeases(owner: "second", keys: nil)
        let released = try #require(try await catalog.states(ofRepresentation: items[1].file.representationID)
            .first { $0.fileID == items[1].file.id && $0.site == "backup" })
        #expect(released.status == .queued)
        #expect(released.leaseOwner == nil)
        #expect(released.tries == 0)
    }

    static func completionAndAlternates(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 1, sites: ["ws-anna": .synced, "studio": .queued])
        let item = try #require(try await claim(catalog, "ws-anna", "studio").first)
        #expect(try await catalog.completeTransfer(item.key, owner: "o1", alternates: ["sftp", "studio2"], now: t0))
        let states = try await catalog.states(ofRepresentation: rep.id)
        #expect(Set(states.filter { $0.status == .synced }.map(\.site)) == ["ws-anna", "studio", "sftp", "studio2"])
        let studio = try #require(states.first { $0.site == "studio" })
        #expect(studio.leaseOwner == nil)
        #expect(studio.bytesDone == item.file.size)
        #expect(studio.syncedAt != nil)
    }

    static func activity(_ catalog: any Catalog) async throws {
        let (_, files) = try await seed(catalog, files: 3)
        try await seed(catalog, project: "aliens", files: 1)
        let items = try await claim(catalog, limit: 3)
        #expect(items.count == 3)
        let byPath = Dictionary(uniqueKeysWithValues: items.map { ($0.file.path, $0) })
        let (done, broken, moving) = (try #require(byPath[files[0].path]), try #require(byPath[files[1].path]), try #require(byPath[files[2].path]))
        try await catalog.reportProgress(moving.key, owner: "o1", bytesDone: 50)
        #expect(try await catalog.completeTransfer(done.key, owner: "o1", alternates: [], now: t0.addingTimeInterval(5)))
        try await catalog.failTransfer(broken.key, owner: "o1", error: "disk full", retryAt: t0.addingTimeInterval(100),
                                       countsAsTry: true, now: t0.addingTimeInterval(6))

        let a = try await catalog.activity(projects: ["robots"], recent: 10)
        #expect(a.running.map(\.file.path) == [files[2].path])
        #expect(a.running.first?.bytesDone == 50 && a.running.first?.owner == "o1" && a.running.first?.site == "backup")
        #expect(a.running.first?.leaseExpiresAt != nil)
        let failure = try #require(a.recent.first { !$0.synced })
        #expect(failure.file.path == files[1].path && failure.site == "backup" && failure.error == "disk full" && failure.status == .queued)
        #expect(a.recent.contains { $0.synced && $0.site == "backup" && $0.file.path == files[0].path && $0.error == nil })
        #expect(a.recent.allSatisfy { $0.file.project == "robots" })
        #expect(zip(a.recent, a.recent.dropFirst()).allSatisfy { $0.at >= $1.at }, "newest first")
        #expect(try await catalog.activity(projects: ["robots"], recent: 1).recent.count == 1)

        let aliens = try await catalog.activity(projects: ["aliens"], recent: 10)
        #expect(aliens.running.isEmpty && aliens.recent.allSatisfy { $0.file.project == "aliens" })
        let every = try await catalog.activity(projects: nil, recent: 100)
        #expect(every.running.count == 1 && Set(every.recent.map(\.file.project)) == ["robots", "aliens"])
        #expect(try await catalog.activity(projects: [], recent: 10) == CatalogActivity(running: [], recent: []))
    }

    static func removeSite(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 2, sites: ["studio": .synced, "sftp": .synced, "backup": .queued])
        // studio and sftp are one storage: removing both would drop the only copy.
        await #expect {
            try await catalog.removeSites(representation: rep.id, sites: ["studio", "sftp"])
        } throws: { error in
            if case CatalogError.lastCopy(let site, _) = error { return site == "sftp+studio" }
            return false
        }
        #expect(try await catalog.states(ofRepresentation: rep.id).count == 6)
        try await catalog.removeSites(representation: rep.id, sites: ["backup"])
        #expect(try await catalog.states(ofRepresentation: rep.id).contains { $0.site == "backup" } == false)
        try await catalog.removeSites(representation: rep.id, sites: ["sftp"])
        #expect(Set(try await catalog.states(ofRepresentation: rep.id).map(\.site)) == ["studio"])
        await #expect {
            try await catalog.removeSites(representation: rep.id, sites: ["studio"])
        } throws: { error in
            if case CatalogError.lastCopy(let site, _) = error { return site == "studio" }
            return false
        }
        await #expect(throws: CatalogError.siteNotPresent(site: "nowhere", representationID: rep.id)) {
            try await catalog.removeSites(representation: rep.id, sites: ["nowhere"])
        }
    }

    static func reset(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 1)
        let item = try #require(try await claim(catalog).first)
        try await catalog.failTransfer(item.key, owner: "o1", error: "bad", retryAt: nil, countsAsTry: true, now: t0)
        #expect(try await catalog.resetSite(representation: rep.id, site: "backup", now: t0) == 1)
        let state = try #require(try await catalog.states(ofRepresentation: rep.id).first { $0.site == "backup" })
        #expect(state.status == .queued && state.tries == 0 && state.lastError == nil)
        await #expect(throws: CatalogError.lastCopy(site: "studio", path: item.file.path)) {
            try await catalog.resetSite(representation: rep.id, site: "studio", now: t0)
        }
        await #expect(throws: CatalogError.siteNotPresent(site: "nowhere", representationID: rep.id)) {
            try await catalog.resetSite(representation: rep.id, site: "nowhere", now: t0)
        }
    }

    static func pauseResume(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 3)
        let running = try #require(try await claim(catalog, limit: 1).first)
        try await catalog.setRepresentationPaused(rep.id, paused: true, now: t0)
        #expect(try await catalog.representation(rep.id)?.paused == true)
        #expect(try await catalog.states(ofRepresentation: rep.id).filter { $0.site == "backup" }.allSatisfy { $0.status == .paused })
        // The running transfer learns of it when it renews its lease.
        #expect(try await catalog.renewLeases(owner: "o1", keys: [running.key], now: t0, until: t0.addingTimeInterval(99)).isEmpty)
        #expect(try await claim(catalog).isEmpty)
        // A site added while paused starts paused.
        try await catalog.addSite(representation: rep.id, site: "cloud", group: ["cloud"], priority: nil, force: false, now: t0)
        #expect(try await catalog.states(ofRepresentation: rep.id).filter { $0.site == "cloud" }.allSatisfy { $0.status == .paused })
        try await catalog.setRepresentationPaused(rep.id, paused: false, now: t0)
        #expect(try await claim(catalog).count == 3)
        #expect(try await claim(catalog, "studio", "cloud").count == 3)
    }

    static func summaries(_ catalog: any Catalog) async throws {
        let (rep, _) = try await seed(catalog, files: 2)
        try await seed(catalog, project: "aliens", files: 1)
        let item = try #require(try await claim(catalog, limit: 1).first)
        try await catalog.completeTransfer(item.key, owner: "o1", alternates: [], now: t0)
        let all = try await catalog.summaries(project: nil, site: nil)
        #expect(all.count == 2)
        let robots = try #require(try await catalog.summaries(project: "robots", site: nil).first)
        #expect(robots.representation.id == rep.id)
        #expect(robots.fileCount == 2)
        #expect(robots.totalBytes == 201)
        let backup = try #require(robots.sites.first { $0.site == "backup" })
        #expect(backup.counts[.synced] == 1)
        #expect(backup.counts[.queued] == 1)
        #expect(backup.status == .queued)
        #expect(robots.sites.first { $0.site == "studio" }?.status == .synced)
        #expect(try await catalog.summaries(project: nil, site: "nowhere").isEmpty)
    }

    static func paging(_ catalog: any Catalog) async throws {
        for v in 1...7 { try await seed(catalog, version: v, files: 2) }
        try await seed(catalog, project: "aliens", version: 1, files: 1, sites: ["studio": .synced])
        // Pages of three, each starting after the last one's representation: every one once, in order.
        var seen: [RepresentationSummary] = []
        var after: RepresentationContext?
        while true {
            let page = try await catalog.summaries(project: "robots", site: nil, after: after, limit: 3)
            #expect(page.count <= 3)
            seen += page
            guard let last = page.last else { break }
            after = last.representation.context
        }
        #expect(seen.map(\.representation.context.version) == Array(1...7))
        #expect(seen.allSatisfy { $0.fileCount == 2 && $0.sites.count == 2 && $0.sites.first { $0.site == "backup" }?.counts[.queued] == 2 })
        // Filters hold across pages: only representations with rows on the site, only the project asked for.
        let onBackup = try await catalog.summaries(project: nil, site: "backup", after: nil, limit: 100)
        #expect(onBackup.count == 7 && onBackup.allSatisfy { $0.representation.context.project == "robots" })
        let all = try await catalog.summaries(project: nil, site: nil, after: nil, limit: 100)
        #expect(all.first?.representation.context.project == "aliens" && all.count == 8)
    }

    static func generation(_ catalog: any Catalog) async throws {
        let g0 = try await catalog.workGeneration()
        let (rep, _) = try await seed(catalog, files: 1)
        let g1 = try await catalog.workGeneration()
        #expect(g1 > g0)
        try await catalog.addSite(representation: rep.id, site: "cloud", group: [], priority: nil, force: false, now: t0)
        let g2 = try await catalog.workGeneration()
        #expect(g2 > g1)
        let item = try #require(try await claim(catalog).first)
        try await catalog.completeTransfer(item.key, owner: "o1", alternates: [], now: t0)
        #expect(try await catalog.workGeneration() > g2)
    }

    static func report(_ catalog: any Catalog) async throws {
        let empty = try await catalog.report(now: t0)
        #expect(empty.isEmpty && empty.totals.isEmpty && empty.schemaVersion == empty.buildSchemaVersion && empty.schemaVersion > 0)
        // Real times here: a SQLite catalog judges leases by the caller's clock, a shared one by the database's.
        let published = Date().addingTimeInterval(-10)
        try await seed(catalog, files: 3, now: published)
        try await seed(catalog, version: 2, files: 2, sites: ["studio": .synced, "backup": .queued, "cloud": .paused], now: published)
        try await catalog.setStudioSettingsYAML("enabled: true\n")
        // Two running transfers: one lease alive, one long expired (by any clock).
        let now = Date()
        let live = try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "server-a",
                                                        now: now, leaseUntil: now.addingTimeInterval(600), limit: 1))
        let dead = try await catalog.claim(ClaimRequest(source: "studio", target: "backup", projects: ["robots"], owner: "server-b",
                                                        now: now, leaseUntil: now.addingTimeInterval(0.5), limit: 1))
        #expect(live.count == 1 && dead.count == 1)
        try await Task.sleep(nanoseconds: 1_200_000_000)
        let r = try await catalog.report(now: Date())
        #expect(r.projects == 1 && r.representations == 2 && r.files == 5 && r.hasSettings && !r.isEmpty)
        #expect(r.states["studio"] == [.synced: 5])
        #expect(r.states["backup"] == [.queued: 3, .inProgress: 2])
        #expect(r.states["cloud"] == [.paused: 2])
        #expect(r.totals[.synced] == 5 && r.totals[.queued] == 3)
        #expect(r.runningLeases == 1 && r.expiredLeases == 1 && r.leaseOwners == ["server-a"], "\(r)")
    }

    static func exportImport(_ catalog: any Catalog) async throws {
        let (rep, files) = try await seed(catalog, files: 3, sites: ["studio": .synced, "backup": .queued, "sftp": .synced])
        let (second, _) = try await seed(catalog, version: 2, files: 2)
        try await catalog.setRepresentationPaused(second.id, paused: true, now: t0)
        // Give the rows some history: a failure with its error and time, a verification, damage, a running transfer.
        let items = try await claim(catalog, limit: 2)
        try await catalog.failTransfer(items[0].key, owner: "o1", error: "disk full", retryAt: t0.addingTimeInterval(90),
                                       countsAsTry: true, now: t0.addingTimeInterval(2))
        try await catalog.markVerified(fileID: files[0].id, sites: ["studio"], now: t0.addingTimeInterval(3))
        try await catalog.markDamaged(fileID: files[1].id, sites: ["sftp"], status: .corrupt, problem: "verify: hash differs",
                                      now: t0.addingTimeInterval(4))

        var exported: [RepresentationExport] = []
        var after: String?
        while true {  // pages of one: the keyset continues after the last id
            let page = try await catalog.exportRepresentations(after: after, limit: 1)
            guard let last = page.last else { break }
            #expect(page.count == 1)
            exported += page
            after = last.representation.id
        }
        #expect(exported.map(\.representation.id) == [rep.id, second.id].sorted())
        let original = try #require(exported.first { $0.representation.id == rep.id })
        #expect(original.files == files)
        #expect(original.states.count == 9)
        #expect(original.states.contains { $0.status == .inProgress && $0.leaseOwner == "o1" })

        // The same representations under new ids and paths, in a project of their own, as a new catalog receives them.
        try await catalog.addProject("copy", now: t0)
        func renamed(_ e: RepresentationExport) -> RepresentationExport {
            var e = e
            e.representation.id = "copy-" + e.representation.id
            e.representation.context.project = "copy"
            e.representation.inputs = ["some-input"]
            e.files = e.files.map { f in
                var f = f
                f.id = "copy-" + f.id; f.representationID = e.representation.id; f.project = "copy"; f.path += ".copy"
                return f
            }
            e.states = e.states.map { s in var s = s; s.fileID = "copy-" + s.fileID; return s }
            return e
        }
        try await catalog.importRepresentations(exported.map(renamed))
        let back = try await catalog.exportRepresentations(after: "copy-", limit: 10).filter { $0.representation.id.hasPrefix("copy-") }
        let expected = exported.map(renamed).map { e in
            var e = e
            e.states = e.states.map(\.importedIntoNewCatalog)
            return e
        }
        #expect(back == expected)
        let copiedStates = back.flatMap(\.states)
        #expect(copiedStates.contains { $0.tries == 1 && $0.lastError == "disk full" && $0.lastFailureAt == t0.addingTimeInterval(2) })
        #expect(copiedStates.contains { $0.status == .corrupt && $0.problem == "verify: hash differs" })
        #expect(!copiedStates.contains { $0.status == .inProgress || $0.leaseOwner != nil })
        #expect(back.first { $0.representation.id == "copy-" + second.id }?.representation.paused == true)
        // Imported rows are work like any other: the queued copies are claimable.
        // (the paused representation's rows are not).
        let claimable = try await claim(catalog, owner: "o2", projects: ["copy"], now: t0.addingTimeInterval(1000))
        #expect(claimable.count == 3)
        // A project the catalog lacks is refused, and nothing of the batch stays.
        var orphan = exported[0]
        orphan.representation.id = "orphan"; orphan.representation.context.project = "nowhere"
        orphan.files = []; orphan.states = []
        await #expect(throws: CatalogError.unknownProject("nowhere")) { try await catalog.importRepresentations([orphan]) }
        #expect(try await catalog.representation("orphan") == nil)
    }
}
