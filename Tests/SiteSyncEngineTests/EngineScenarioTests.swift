import Foundation
import ServiceLifecycle
import Logging
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("Engine scenarios")
struct EngineScenarioTests {
    @Test("upload: the artist's publish reaches studio and backup, verified")
    func upload() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("a.ma", size: 70_000), try studio.source("b.ma", seed: 2)])
        #expect(rep.sites == ["ws-anna": .synced, "studio": .queued, "vendor": .queued, "backup": .queued])
        #expect(studio.verified(rep, on: "ws-anna"))
        let summary = try await studio.once(anna)
        #expect(summary.failed.isEmpty)
        #expect(summary.moved.count == 4)  // two files to studio, two to backup; vendor is studio
        #expect(studio.verified(rep, on: "studio"))
        #expect(studio.verified(rep, on: "backup"))
        for site in ["studio", "vendor", "backup", "ws-anna"] {
            #expect(try await studio.statuses(anna, rep.representation.id, site: site) == [.synced, .synced], "\(site)")
        }
        // Nothing left to do: a second run moves nothing.
        #expect(try await studio.once(anna).moved.isEmpty)
    }

    @Test("download: another machine pulls a representation and the ones it was made from")
    func download() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let model = try await studio.publish(anna, files: [try studio.source("m.ma")])
        let anim = try await studio.publish(anna, version: 2, product: "anim", files: [try studio.source("x.abc", seed: 3)],
                                            inputs: [model.representation.id])
        _ = try await studio.once(anna)
        let bob = try studio.machine("ws-bob")
        let (site, queued) = try await bob.download(anim.representation.id, priority: nil)
        #expect(site == "ws-bob")
        #expect(Set(queued) == [anim.representation.id, model.representation.id])
        let summary = try await studio.once(bob)
        #expect(summary.moved.count == 2)
        #expect(summary.moved.allSatisfy { $0.source == "studio" && $0.target == "ws-bob" })
        #expect(studio.verified(anim, on: "ws-bob") && studio.verified(model, on: "ws-bob"))
        // Asking again is a no-op.
        #expect(try await bob.download(anim.representation.id, priority: nil).queued.isEmpty)
    }

    @Test("always_accessible_on: the studio's service copies studio's files to the backup site")
    func alwaysAccessible() async throws {
        let settings = TestStudio.standard.replacingOccurrences(of: "active_site: local", with: "active_site: studio")
        let studio = try await TestStudio(settings: settings)
        let service = try studio.machine("sync-service")
        let rep = try await studio.publish(service, files: [try studio.source("s.ma")])
        #expect(rep.sites["studio"] == .synced && rep.sites["backup"] == .queued)
        let summary = try await studio.once(service)
        #expect(summary.moved.map(\.target) == ["backup"])
        #expect(summary.moved.map(\.source) == ["studio"])
        #expect(studio.verified(rep, on: "backup"))
    }

    @Test("alternates are transitive: one upload makes the file synced on the whole group")
    func transitiveAlternates() async throws {
        let settings = """
            sites:
              sftp: {provider: local_drive, roots: {work: $DIR/studio}, alternative_sites: [studio]}
              studio2: {provider: local_drive, roots: {work: $DIR/studio}, alternative_sites: [sftp]}
            projects:
              default: {sitesync: {retry_backoff: 0.2, active_site: local, remote_site: sftp}}
              robots: {roots: {work: $DIR/studio}}
            """
        let studio = try await TestStudio(settings: settings)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("t.ma"), try studio.source("u.ma", seed: 4)])
        let summary = try await studio.once(anna)
        #expect(summary.moved.count == 2)
        #expect(summary.moved.allSatisfy { $0.target == "sftp" })
        for site in ["sftp", "studio", "studio2"] {
            #expect(try await studio.statuses(anna, rep.representation.id, site: site) == [.synced, .synced], "\(site)")
        }
        // Publishing at the studio marks the whole group at once, too.
        let atStudio = try studio.machine("ws-studio", active: "studio", remote: "studio")
        let direct = try await studio.publish(atStudio, version: 2, files: [try studio.source("v.ma", seed: 5)])
        #expect(direct.sites == ["studio": .synced, "sftp": .synced, "studio2": .synced])
    }

    @Test("a file the target cannot take retries with backoff, then fails with its reason; its sibling still syncs")
    func retriesThenFailed() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let good = try await studio.publish(anna, version: 1, files: [try studio.source("good.ma")])
        let rep = try await studio.publish(anna, version: 2, files: [try studio.source("bad.ma", seed: 6)])
        let bad = try #require(rep.files.first)
        // On studio, a plain file sits where v002's folder must go: the copy cannot be written there.
        let folder = (studio.path(bad, on: "studio") as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: (folder as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: folder))
        let started = Date()
        let summary = try await studio.once(anna)
        let elapsed = Date().timeIntervalSince(started)
        // The good file reached both sites, the bad one reached backup; studio's copy ran out of its 3 tries.
        #expect(summary.moved.count == 3)
        #expect(summary.failed.count == 1)
        #expect(summary.retriesScheduled == 2)
        // Backoff: 0.2 s then 0.4 s (±50 %) between the tries.
        #expect(elapsed >= 0.3, "retries must wait out their backoff (took \(elapsed) s)")
        let state = try #require(try await anna.show(rep.representation.id).states.first { $0.site == "studio" })
        #expect(state.status == .failed)
        #expect(state.tries == 3)
        #expect(state.lastError?.contains("Not a directory") == true, "\(state.lastError ?? "")")
        #expect(filesBelow("\(studio.dir.path)/studio", where: LocalFiles.isTemporary).isEmpty)
        #expect(studio.verified(good, on: "studio") && studio.verified(rep, on: "backup"))
        // Once the obstacle is gone, a reset syncs it.
        try FileManager.default.removeItem(atPath: folder)
        #expect(try await anna.reset(rep.representation.id, site: "studio") == 1)
        let again = try await studio.once(anna)
        #expect(again.failed.isEmpty)
        #expect(studio.verified(rep, on: "studio"))
    }

    @Test("pause and resume at server, project and representation level")
    func pauseResume() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("p.ma")])
        try await anna.setPaused(.server, true)
        #expect(try await studio.once(anna).moved.isEmpty)
        try await anna.setPaused(.server, false)
        try await anna.setPaused(.project("robots"), true)
        #expect(try await studio.once(anna).moved.isEmpty)
        try await anna.setPaused(.project("robots"), false)
        try await anna.setPaused(.representation(rep.representation.id), true)
        #expect(try await studio.statuses(anna, rep.representation.id, site: "studio") == [.paused])
        #expect(try await studio.once(anna).moved.isEmpty)
        try await anna.setPaused(.representation(rep.representation.id), false)
        #expect(try await studio.once(anna).moved.count == 2)
    }

    @Test("remove-site deletes a copy and refuses to remove the last one")
    func removeSite() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("r1.ma"), try studio.source("r2.ma", seed: 7)])
        // Only the artist has it: removing the artist's copy would lose it.
        await #expect(throws: SiteSyncError.self) { _ = try await anna.removeSite(rep.representation.id, site: "local", keepFiles: false) }
        #expect(studio.verified(rep, on: "ws-anna"))
        _ = try await studio.once(anna)
        let removed = try await anna.removeSite(rep.representation.id, site: "local", keepFiles: false)
        #expect(removed.removedSites == ["ws-anna"])
        #expect(removed.deletedFiles.count == 2)
        #expect(rep.files.allSatisfy { !FileManager.default.fileExists(atPath: studio.path($0, on: "ws-anna")) })
        // Emptied folders are pruned, the site root stays.
        #expect(FileManager.default.fileExists(atPath: "\(studio.dir.path)/ws-anna"))
        #expect(!FileManager.default.fileExists(atPath: "\(studio.dir.path)/ws-anna/robots"))
        #expect(try await studio.statuses(anna, rep.representation.id, site: "ws-anna").isEmpty)
        // Removing the backup copy is fine; then studio (with vendor, the same storage) is the last copy.
        _ = try await anna.removeSite(rep.representation.id, site: "backup", keepFiles: false)
        await #expect(throws: SiteSyncError.self) { _ = try await anna.removeSite(rep.representation.id, site: "vendor", keepFiles: false) }
        #expect(studio.verified(rep, on: "studio"))
    }

    @Test("higher priority goes first")
    func priorityOrder() async throws {
        let settings = TestStudio.standard.replacingOccurrences(of: "backup: {provider: local_drive,", with: "backup: {provider: local_drive, concurrency: 1,")
            .replacingOccurrences(of: "always_accessible_on: [backup]", with: "always_accessible_on: []")
            .replacingOccurrences(of: "remote_site: studio", with: "remote_site: backup")
        let studio = try await TestStudio(settings: settings)
        let anna = try studio.machine("ws-anna")
        // Different bytes each: identical ones would be made from the first on the backup, not moved.
        let low = try await studio.publish(anna, version: 1, files: [try studio.source("low.ma", seed: 1)], priority: 10)
        let mid = try await studio.publish(anna, version: 2, files: [try studio.source("mid.ma", seed: 2)], priority: 50)
        let high = try await studio.publish(anna, version: 3, files: [try studio.source("high.ma", seed: 3)], priority: 10)
        try await anna.setPriority(high.representation.id, 99)
        let summary = try await studio.once(anna)
        #expect(summary.moved.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["high.ma", "mid.ma", "low.ma"])
        _ = low
        _ = mid
    }

    @Test("an expired lease of a crashed server is taken over")
    func expiredLease() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard, leaseSeconds: 1)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("l.ma")])
        // A server that claimed the work and died.
        let claimed = try await anna.catalog.claim(ClaimRequest(source: "ws-anna", target: "studio", projects: ["robots"],
            owner: "dead-server", now: Date(), leaseUntil: Date().addingTimeInterval(1), limit: 10))
        #expect(claimed.count == 1)
        let summary = try await studio.once(anna)
        #expect(summary.moved.map(\.target).sorted() == ["backup", "studio"])
        #expect(try await studio.statuses(anna, rep.representation.id, site: "studio") == [.synced])
        #expect(studio.verified(rep, on: "studio"))
    }

    @Test("a slow file does not hold up the others (no batch barrier)")
    func noBatchBarrier() async throws {
        let settings = TestStudio.standard.replacingOccurrences(of: "always_accessible_on: [backup]", with: "always_accessible_on: []")
        let studio = try await TestStudio(settings: settings)
        let anna = try studio.machine("ws-anna")
        // The artist's disk reads at 2 MiB/s: the big file takes about 4 s (a margin for a loaded machine).
        try await anna.importSettings(yaml: """
            sites:
              slowlink: {provider: local_drive, roots: {work: \(studio.dir.path)/studio}}
            projects:
              default: {sitesync: {active_site: local, remote_site: slowlink, retry_backoff: 0.2}}
              robots: {roots: {work: \(studio.dir.path)/studio}, sitesync: {sites: {slowlink: {bandwidth_limit: 2M}}}}
            """, source: "test")
        let big = try await studio.publish(anna, version: 1, files: [try studio.source("big.bin", size: 8 << 20)])
        let smalls = try await studio.publish(anna, version: 2, files: (0..<6).map { try studio.source("s\($0).ma", size: 1000, seed: UInt64($0)) })
        let summary = try await studio.once(anna)
        #expect(summary.moved.count == 7)
        // All small files finished before the big one: they did not wait for a batch to end.
        let bigIndex = try #require(summary.moved.firstIndex { $0.path.hasSuffix("big.bin") })
        #expect(bigIndex == 6, "order: \(summary.moved.map(\.path))")
        #expect(studio.verified(big, on: "studio") && studio.verified(smalls, on: "studio"))
    }

    @Test("graceful shutdown stops a transfer, leaves nothing under the final name and releases its lease")
    func gracefulShutdown() async throws {
        let studio = try await TestStudio(settings: """
            projects:
              default: {sitesync: {active_site: local, remote_site: backup}}
              robots: {roots: {work: $DIR/studio}}
            sites:
              backup: {provider: local_drive, roots: {work: $DIR/backup}, bandwidth_limit: 1M}
            """)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("huge.bin", size: 16 << 20)])
        let server = SyncServer(engine: anna, options: ServerOptions())
        let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let file = try #require(rep.files.first)
        let temporary = LocalFiles.temporaryPath(for: studio.path(file, on: "backup"))
        try await eventually("the transfer to start") { FileManager.default.fileExists(atPath: temporary) }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!FileManager.default.fileExists(atPath: studio.path(file, on: "backup")))
        #expect(!FileManager.default.fileExists(atPath: temporary))
        let state = try #require(try await anna.show(rep.representation.id).states.first { $0.site == "backup" })
        #expect(state.status == .queued)
        #expect(state.leaseOwner == nil)
        #expect(state.tries == 0, "a shutdown is not a failed try")
    }

    @Test("publishing the same representation twice is refused")
    func duplicatePublish() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let first = try await studio.publish(anna, files: [try studio.source("d.ma")])
        do {
            _ = try await studio.publish(anna, files: [try studio.source("d.ma")])
            Issue.record("a second publish of the same version must fail")
        } catch {
            #expect("\(error)".contains(first.representation.id))
        }
        await #expect(throws: (any Error).self) { try await studio.publish(anna, version: 2, files: ["/no/such/file"]) }
        await #expect(throws: (any Error).self) {
            try await anna.publish(RepresentationContext(project: "nope", folder: "a", product: "b", version: 1, name: "c"),
                                   files: [try studio.source("e.ma")])
        }
    }

    @Test("an unavailable site is skipped and reported, not failed file by file")
    func unavailableSite() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard.replacingOccurrences(of: "$DIR/backup", with: "$DIR/unmounted"))
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("x.ma")])
        let summary = try await studio.once(anna)
        #expect(summary.moved.map(\.target) == ["studio"])
        #expect(summary.unavailable["backup"]?.contains("unmounted") == true)
        #expect(!summary.succeeded)
        #expect(try await studio.statuses(anna, rep.representation.id, site: "backup") == [.queued])
        #expect(!FileManager.default.fileExists(atPath: "\(studio.dir.path)/unmounted"))
    }
}
