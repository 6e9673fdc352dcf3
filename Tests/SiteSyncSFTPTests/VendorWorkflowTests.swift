import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncStandard
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("SFTP: the vendor workflow end to end")
struct VendorWorkflowTests {
    @Test("an sftp alternate of studio: artists publish and download through it, studio has the files at once")
    func vendorWorkflow() async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("vendor")
        let studioRoot = "\(dir.path)/studio"
        try server.makeRoot(studioRoot)  // sshd serves the studio folder
        let keys = try UserKeys.shared()
        let settings = """
            sites:
              sftp:
                provider: sftp
                host: 127.0.0.1
                port: \(server.port)
                user: \(SSHServer.user)
                key_file: \(keys.files["ed25519_pass"]!)
                key_passphrase: "\(UserKeys.passphrase)"
                known_hosts: \(server.knownHosts)
                roots: {work: \(studioRoot)}
                alternative_sites: [studio]
            projects:
              default: {sitesync: {active_site: studio, remote_site: studio, retry_backoff: 0.2}}
              robots: {roots: {work: \(studioRoot)}}
            """
        func machine(_ id: String, create: Bool = false) throws -> SiteSync {
            let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/\(id).yaml",
                                          siteIDOverride: id, pollInterval: 0.05)
            let engine = try SiteSyncStandard.open(env, create: create)
            _ = try engine.setLocal(project: "robots", roots: ["work": "\(dir.path)/\(id)"], activeSite: "local", remoteSite: "sftp")
            return engine
        }
        let anna = try machine("ws-anna", create: true)
        try await anna.importSettings(yaml: settings, source: "test")
        #expect(try await anna.checkSite("sftp", project: "robots").contains { $0.contains(server.fingerprint) })

        // The freelancer publishes at home; her server uploads to the vendor SFTP.
        let files = [try dir.file("src/anna.ma", size: 300_000, seed: 1), try dir.file("src/anna_tex.exr", size: 5 << 20, seed: 2)]
        let published = try await anna.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: "model",
                                                                      version: 1, name: "ma"), files: files)
        #expect(published.sites == ["ws-anna": .synced, "sftp": .queued, "studio": .queued])
        let upload = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(upload.failed.isEmpty)
        #expect(upload.moved.count == 2)
        #expect(upload.moved.allSatisfy { $0.target == "sftp" }, "studio is the same storage: no second transfer")
        let states = try await anna.show(published.representation.id).states
        #expect(states.filter { $0.site == "studio" }.allSatisfy { $0.status == .synced })
        for file in published.files {
            let onStudio = RootlessPath.join(studioRoot, RootlessPath.split(file.path)!.relative)
            #expect(try LocalFiles.digest(of: onStudio) == ContentDigest(size: file.size, sha256: file.sha256))
        }

        // Another freelancer downloads it through the SFTP site.
        let bob = try machine("ws-bob")
        let (site, _) = try await bob.download(published.representation.id, priority: nil)
        #expect(site == "ws-bob")
        let download = try await SyncServer(engine: bob, options: ServerOptions(once: true)).runUntilIdle()
        #expect(download.moved.count == 2)
        #expect(download.moved.allSatisfy { $0.source == "sftp" && $0.target == "ws-bob" })
        for file in published.files {
            let onBob = RootlessPath.join("\(dir.path)/ws-bob", RootlessPath.split(file.path)!.relative)
            #expect(try LocalFiles.digest(of: onBob) == ContentDigest(size: file.size, sha256: file.sha256))
        }

        // Published at the studio: available on sftp at once, and a freelancer pulls it without a studio→sftp copy.
        let studioEnv = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/studio.yaml",
                                            siteIDOverride: "studio-ws", pollInterval: 0.05)
        let atStudio = try SiteSyncStandard.open(studioEnv)
        let fromStudio = try await atStudio.publish(RepresentationContext(project: "robots", folder: "env/city", product: "layout",
                                                                          version: 4, name: "usd"),
                                                    files: [try dir.file("src/city.usd", size: 70_000, seed: 3)])
        #expect(fromStudio.sites == ["studio": .synced, "sftp": .synced])
        _ = try await anna.download(fromStudio.representation.id, priority: nil)
        let pulled = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(pulled.moved.map(\.source) == ["sftp"])
    }
}

@Suite("SFTP: an outage during a sync")
struct SFTPOutageTests {
    @Test("sshd dies mid-upload and comes back: the server waits, resumes and verifies; no try is used up")
    func outage() async throws {
        let server = try await SSHServer.started()
        let dir = try TemporaryDirectory("outage")
        let remoteRoot = "\(dir.path)/remote"
        try server.makeRoot(remoteRoot)
        let keys = try UserKeys.shared()
        let settings = """
            sites:
              vendor:
                provider: sftp
                host: 127.0.0.1
                port: \(server.port)
                user: \(SSHServer.user)
                key_file: \(keys.files["ecdsa"]!)
                host_key_fingerprint: "\(server.fingerprint)"
                roots: {work: \(remoteRoot)}
                bandwidth_limit: 8M
            projects:
              default: {sitesync: {active_site: local, remote_site: vendor, retry_count: 2, retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/anna.yaml",
                                      siteIDOverride: "ws-anna", pollInterval: 0.05)
        let anna = try SiteSyncStandard.open(env, create: true)
        _ = try anna.setLocal(project: nil, roots: ["work": "\(dir.path)/anna"], activeSite: nil, remoteSite: nil)
        try await anna.importSettings(yaml: settings, source: "test")
        let rep = try await anna.publish(RepresentationContext(project: "robots", folder: "fx", product: "sim", version: 1, name: "bin"),
                                         files: [try dir.file("src/sim.bin", size: 24 << 20, seed: 9)])
        let file = try #require(rep.files.first)
        let relative = RootlessPath.split(file.path)!.relative
        let temporary = LocalFiles.temporaryPath(for: RootlessPath.join(remoteRoot, relative))
        let sync = SyncServer(engine: anna, options: ServerOptions())
        let running = Task { try await sync.run() }
        defer { running.cancel() }
        try await eventually("the upload to be under way") { (LocalFiles.fileSize(temporary) ?? 0) > 4 << 20 }
        await server.killAll()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        var state = try #require(try await anna.show(rep.representation.id).states.first { $0.site == "vendor" })
        #expect(state.status != .failed, "an outage must not use up the file's tries")
        #expect(state.tries == 0)
        try await server.restart()
        try await eventually("the upload to finish after the server came back", timeout: 30) {
            try await anna.show(rep.representation.id).states.first { $0.site == "vendor" }?.status == .synced
        }
        state = try #require(try await anna.show(rep.representation.id).states.first { $0.site == "vendor" })
        #expect(state.tries == 0)
        #expect(try LocalFiles.digest(of: RootlessPath.join(remoteRoot, relative)) == ContentDigest(size: file.size, sha256: file.sha256))
        #expect(!FileManager.default.fileExists(atPath: temporary))
        running.cancel()
        _ = await running.result
    }
}

@Suite("Verify and heal: SFTP")
struct SFTPVerifyTests {
    @Test("deleted and corrupted copies on the SFTP server are found, marked, healed from backup")
    func sftp() async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftpverify")
        let root = "\(dir.path)/served"
        try server.makeRoot(root)
        _ = try dir.sub("backup")
        let keys = try UserKeys.shared()
        let settings = """
            sites:
              vendor:
                provider: sftp
                host: 127.0.0.1
                port: \(server.port)
                user: \(SSHServer.user)
                key_file: \(keys.files["ed25519"]!)
                known_hosts: \(server.knownHosts)
                roots: {work: \(root)}
              backup: {provider: local_drive, roots: {work: \(dir.path)/backup}}
            projects:
              default: {sitesync: {active_site: local, remote_site: vendor, always_accessible_on: [backup], retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        // sshd serves a folder of this machine: the test damages it directly, as someone on the server would.
        @Sendable func served(_ rootless: String) -> String { RootlessPath.join(root, RootlessPath.split(rootless)!.relative) }
        try await VerifyScenario.run(DamageFixture(
            site: "vendor", scratch: try dir.sub("src"),
            machine: machine,
            delete: { try FileManager.default.removeItem(atPath: served($0)) },
            corrupt: { path, size in try TemporaryDirectory.bytes(size: Int(size), seed: 999).write(to: URL(fileURLWithPath: served(path))) },
            digest: { try? LocalFiles.digest(of: served($0)) }))
    }
}
