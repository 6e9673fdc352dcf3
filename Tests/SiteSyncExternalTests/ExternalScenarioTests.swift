import Foundation
@testable import SiteSyncExternal
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

@Suite("External provider sites in a studio (engine scenarios)")
struct ExternalScenarioTests {
    static func site(_ name: String, base: String, command: [String], mode: String? = nil) -> String {
        let args = command.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
              \(name):
                provider: external
                command: [\(args)]
                options: {base: \(base)\(mode.map { ", mode: \($0)" } ?? "")}
                timeout: 20
                roots: {work: /projects}
            """
    }

    @Test("studio backs every publish up to an external site, a crash on the way is retried, an artist pulls from it")
    func backupAndPull() async throws {
        let dir = try TemporaryDirectory("ext-studio")
        let base = try dir.sub("storage")
        try FileManager.default.createDirectory(atPath: base + "/projects", withIntermediateDirectories: true)
        let studioRoot = try dir.sub("studio")
        // The program crashes on its first upload (once): the engine counts a try and the retry succeeds.
        let settings = """
            sites:
            \(Self.site("vault", base: base, command: [ExternalFixtures.python, ExternalFixtures.broken, "crash_once_on_put"]))
            projects:
              default: {sitesync: {active_site: studio, remote_site: studio, always_accessible_on: [vault], retry_backoff: 0.2}}
              robots: {roots: {work: \(studioRoot)}}
            """
        func machine(_ id: String, create: Bool = false) throws -> SiteSync {
            let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/\(id).yaml",
                                          siteIDOverride: id, pollInterval: 0.05)
            let engine = try SiteSyncStandard.open(env, create: create)
            _ = try engine.setLocal(project: nil, roots: ["work": "\(dir.path)/\(id)"], activeSite: nil, remoteSite: nil)
            return engine
        }
        let studio = try machine("studio-srv", create: true)
        try await studio.importSettings(yaml: settings, source: "test")
        let check = try await studio.checkSite("vault", project: "robots").joined(separator: "\n")
        #expect(check.contains("root work: /projects (exists; put, proof, move and delete work)"), "\(check)")
        let sites = try await studio.listSites(project: "robots")
        #expect(sites.first { $0.config.name == "vault" }?.capabilities.names == ["as its program declares (see site check)"])

        let files = [try dir.file("src/plate.exr", size: 3 << 20 | 77, seed: 31), try dir.file("src/plate.json", size: 900, seed: 32),
                     try dir.file("src/empty.txt", size: 0, seed: 33)]
        let published = try await studio.publish(RepresentationContext(project: "robots", folder: "shots/sh010", product: "plate",
                                                                        version: 1, name: "exr"), files: files)
        #expect(published.sites["vault"] == .queued)
        let run = try await SyncServer(engine: studio, options: ServerOptions(once: true)).runUntilIdle()
        #expect(run.failed.isEmpty && run.moved.count == 3 && run.moved.allSatisfy { $0.target == "vault" }, "\(run.failed)")
        #expect(run.retriesScheduled >= 1, "the crash was a counted try, retried")
        for file in published.files {
            let stored = base + "/projects/" + RootlessPath.split(file.path)!.relative
            #expect(try LocalFiles.digest(of: stored) == ContentDigest(size: file.size, sha256: file.sha256), "\(stored)")
        }
        #expect(filesBelow(base + "/projects") { $0.contains("sitesync") }.isEmpty, "no temporary or conflict files stay")
        let report = try await studio.verify(SiteSync.VerifyOptions(site: "vault", project: "robots"))
        #expect(report.clean && report.checked == 3 && report.good == 3, "\(report)")

        let anna = try machine("ws-anna")
        _ = try anna.setLocal(project: "robots", roots: [:], activeSite: "local", remoteSite: "vault")
        _ = try await anna.download(published.representation.id, priority: nil)
        let pull = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(pull.failed.isEmpty && pull.moved.count == 3 && pull.moved.allSatisfy { $0.source == "vault" }, "\(pull.failed)")
        for file in published.files {
            let local = RootlessPath.join("\(dir.path)/ws-anna", RootlessPath.split(file.path)!.relative)
            #expect(try LocalFiles.digest(of: local) == ContentDigest(size: file.size, sha256: file.sha256))
        }
    }

    @Test("verify and heal on an external site: deleted and overwritten files found, marked and healed from backup")
    func verifyAndHeal() async throws {
        let dir = try TemporaryDirectory("ext-verify")
        let base = try dir.sub("storage")
        try FileManager.default.createDirectory(atPath: base + "/projects", withIntermediateDirectories: true)
        let settings = """
            sites:
            \(Self.site("vault", base: base, command: [ExternalFixtures.python, ExternalFixtures.template]))
              backup: {provider: local_drive, roots: {work: \(try dir.sub("backup"))}}
            projects:
              default: {sitesync: {active_site: local, remote_site: vault, always_accessible_on: [backup], retry_backoff: 0.1}}
              robots: {roots: {work: \(try dir.sub("studio"))}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        // Damage is done as another program would: straight in the storage's folder.
        @Sendable func stored(_ rootless: String) -> String { base + "/projects/" + RootlessPath.split(rootless)!.relative }
        try await VerifyScenario.run(DamageFixture(
            site: "vault", scratch: try dir.sub("src"), machine: machine,
            delete: { try FileManager.default.removeItem(atPath: stored($0)) },
            corrupt: { path, size in try TemporaryDirectory.bytes(size: Int(size), seed: 999).write(to: URL(fileURLWithPath: stored(path))) },
            digest: { path in FileManager.default.fileExists(atPath: stored(path)) ? try LocalFiles.digest(of: stored(path)) : nil }))
    }
}
