import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

@Suite("Verify and heal: Local Drive")
struct LocalVerifyTests {
    @Test("deleted and corrupted copies are found, marked, healed from backup; a download from a rotten copy heals too")
    func localDrive() async throws {
        let dir = try TemporaryDirectory("verify")
        for sub in ["nas", "backup"] { _ = try dir.sub(sub) }
        let settings = """
            sites:
              nas: {provider: local_drive, roots: {work: \(dir.path)/nas}}
              backup: {provider: local_drive, roots: {work: \(dir.path)/backup}}
            projects:
              default: {sitesync: {active_site: local, remote_site: nas, always_accessible_on: [backup], retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        @Sendable func onNAS(_ rootless: String) -> String { RootlessPath.join("\(dir.path)/nas", RootlessPath.split(rootless)!.relative) }
        try await VerifyScenario.run(DamageFixture(
            site: "nas", scratch: try dir.sub("src"),
            machine: machine,
            delete: { try FileManager.default.removeItem(atPath: onNAS($0)) },
            corrupt: { path, size in try TemporaryDirectory.bytes(size: Int(size), seed: 999).write(to: URL(fileURLWithPath: onNAS(path))) },
            digest: { try? LocalFiles.digest(of: onNAS($0)) }))
    }
}

@Suite("Background scrub")
struct ScrubTests {
    @Test("a site with scrub_every_days is read back by the server; a copy that rotted is found, queued and healed")
    func scrub() async throws {
        let studio = try await TestStudio(settings: """
            sites:
              backup: {provider: local_drive, roots: {work: $DIR/backup}, scrub_every_days: 0.00001, scrub_bandwidth_limit: 50M}
            projects:
              default: {sitesync: {active_site: local, remote_site: studio, always_accessible_on: [backup], retry_backoff: 0.2}}
              robots: {roots: {work: $DIR/studio}}
            """)
        let anna = try studio.machine("ws-anna", scrubInterval: 0.3)
        let rep = try await studio.publish(anna, files: [try studio.source("a.ma", seed: 1), try studio.source("b.ma", seed: 2)])
        _ = try await studio.once(anna)
        let rotten = try #require(rep.files.first { $0.path.hasSuffix("b.ma") })
        let onBackup = studio.path(rotten, on: "backup")
        try TemporaryDirectory.bytes(size: Int(rotten.size), seed: 66).write(to: URL(fileURLWithPath: onBackup))
        let server = SyncServer(engine: anna, options: ServerOptions())
        let running = Task { try await server.runUntilIdle() }
        defer { running.cancel() }
        // The scrub finds it (within a few of its 0.3 s rounds), marks it, queues it; the server heals it from anna.
        try await eventually("the rotten backup copy to be healed", timeout: 30) {
            try LocalFiles.digest(of: onBackup) == ContentDigest(size: rotten.size, sha256: rotten.sha256)
        }
        try await eventually("every backup copy verified again", timeout: 30) {
            let states = try await anna.show(rep.representation.id).states.filter { $0.site == "backup" }
            return states.allSatisfy { $0.status == .synced && $0.verifiedAt != nil }
        }
        running.cancel()
        let summary = try await running.value
        #expect(summary.moved.contains { $0.path == rotten.path && $0.target == "backup" })
        #expect(filesBelow("\(studio.dir.path)/backup").contains { $0.contains("b.ma.sitesync-conflict-") },
                "the rotten file was moved aside, not overwritten")
    }
}
