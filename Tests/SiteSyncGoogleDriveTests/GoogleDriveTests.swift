import Foundation
import SiteSyncDriveContract
import SiteSyncEngine
import SiteSyncStandard
import SiteSyncGoogleDrive
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

func driveSite(_ server: DriveContractServer, root: String, sessions: String, extra: [String: ConfigValue] = [:]) throws -> SiteConfig {
    var options: [String: ConfigValue] = [
        "provider": .string("gdrive"), "credentials_file": .string(server.keyFile), "api_base_url": .string(server.baseURL),
        "roots": .map(["work": .string(root)]), "session_dir": .string(sessions), "chunk_size": .string("256K"),
        "requests_per_second": .int(500), "retry_base": .double(0.05),
    ]
    options.merge(extra) { $1 }
    let studio = StudioSettings(document: .map(["sites": .map(["gdrive": .map(options)])]))
    return try SettingsContext(studio: studio, local: LocalSettings(), siteID: "ws-test").project("p").site("gdrive")
}

func digest(_ data: Data) -> ContentDigest {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("d-\(UUID().uuidString)").path
    defer { unlink(path) }
    try? data.write(to: URL(fileURLWithPath: path))
    return (try? LocalFiles.digest(of: path)) ?? ContentDigest(size: 0, sha256: "")
}

@Suite("Google Drive provider against the Drive v3 contract server")
struct GoogleDriveTests {
    @Test("conformance", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        let sessions = try dir.sub("sessions")
        let fixture = ProviderFixture(root: "/My Drive/studio", scratch: try dir.sub("scratch")) { limit in
            var site = try driveSite(server, root: "/My Drive/studio", sessions: sessions)
            site.bandwidthLimit = limit
            return try GoogleDriveProvider(site: site, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
        await server.stop()
    }

    @Test("a bad, missing or foreign key is a clear error naming the file and the fix")
    func keyErrors() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        func message(_ file: String) -> String {
            var site = try? driveSite(server, root: "/My Drive/x", sessions: dir.path)
            site?.options["credentials_file"] = .string(file)
            do {
                _ = try GoogleDriveProvider(site: site!, platform: .current)
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(message("/no/such/key.json").contains("cannot read /no/such/key.json"))
        let notJSON = try dir.file("bad.json", size: 10)
        #expect(message(notJSON).contains("is not JSON"))
        let user = "\(dir.path)/user.json"
        try #"{"type": "authorized_user", "client_id": "x"}"#.write(toFile: user, atomically: true, encoding: .utf8)
        #expect(message(user).contains("not a service-account key"))
        let badKey = "\(dir.path)/badkey.json"
        try #"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#
            .write(toFile: badKey, atomically: true, encoding: .utf8)
        #expect(message(badKey).contains("not a usable RSA key"))
        // World-readable: works, with a warning in check.
        chmod(server.keyFile, 0o644)
        await server.store.add(name: "x", parent: "root", folder: true)
        let lines = try await GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/x", sessions: dir.path), platform: .current).check()
        #expect(lines.contains { $0.contains("readable by every user") })
        #expect(lines.contains { $0.contains(server.clientEmail) })
        await server.stop()
    }

    @Test("site check: account, drive and root folder; a root not shared with the account is explained")
    func check() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        let driveID = await server.store.addSharedDrive("Team Share")
        await server.store.add(name: "studio", parent: driveID, folder: true)
        let shared = try GoogleDriveProvider(site: try driveSite(server, root: "/Team Share/studio", sessions: dir.path), platform: .current)
        let lines = try await shared.check()
        #expect(lines.contains { $0.contains("shared drive Team Share (\(driveID))") })
        let missing = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/nowhere", sessions: dir.path), platform: .current)
        do {
            _ = try await missing.check()
            Issue.record("a missing root must fail the check")
        } catch {
            #expect("\(error)".contains("share it with \(server.clientEmail)"))
        }
        let noDrive = try GoogleDriveProvider(site: try driveSite(server, root: "/Other Share/x", sessions: dir.path), platform: .current)
        await #expect(throws: ProviderError.self) { try await noDrive.check() }
        await server.stop()
    }

    @Test("a shared drive root works end to end")
    func sharedDrive() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        let driveID = await server.store.addSharedDrive("Team Share")
        await server.store.add(name: "studio", parent: driveID, folder: true)
        let p = try GoogleDriveProvider(site: try driveSite(server, root: "/Team Share/studio", sessions: dir.path), platform: .current)
        let file = try dir.file("a.bin", size: 700_000, seed: 3)
        let d = try LocalFiles.digest(of: file)
        try await p.upload(localFile: file, to: "/Team Share/studio/shots/a.bin", expected: d, progress: { _ in })
        let item = await server.store.item(at: ["Team Share", "studio", "shots", "a.bin"])
        #expect(item.map { digest($0.data) } == d)
        #expect(try await p.download("/Team Share/studio/shots/a.bin", to: "\(dir.path)/back", progress: { _ in }) == d)
        await server.stop()
    }

    @Test("two uploads into the same new folder at once make one folder")
    func concurrentFolders() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        let p = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/studio", sessions: dir.path), platform: .current)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<6 {
                let file = try dir.file("f\(i).bin", size: 1000 + i, seed: UInt64(i))
                let d = try LocalFiles.digest(of: file)
                group.addTask { try await p.upload(localFile: file, to: "/My Drive/studio/new/deep/f\(i).bin", expected: d, progress: { _ in }) }
            }
            try await group.waitForAll()
        }
        let studio = try #require(await server.store.item(at: ["My Drive", "studio"]))
        #expect(await server.store.children(of: studio.id).filter { $0.name == "new" }.count == 1)
        let new = try #require(await server.store.item(at: ["My Drive", "studio", "new"]))
        #expect(await server.store.children(of: new.id).filter { $0.name == "deep" }.count == 1)
        let deep = try #require(await server.store.item(at: ["My Drive", "studio", "new", "deep"]))
        #expect(await server.store.children(of: deep.id).count == 6)
        await server.stop()
    }

    @Test("duplicate names: the oldest wins, every time; an upload moves both aside, never overwriting either")
    func duplicates() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        let studio = await server.store.add(name: "studio", parent: "root", folder: true)
        let older = Data("older".utf8), newer = Data("newer one".utf8)
        let oldID = await server.store.add(name: "dup.ma", parent: studio, folder: false, data: older, created: Date(timeIntervalSinceNow: -100))
        await server.store.add(name: "dup.ma", parent: studio, folder: false, data: newer, created: Date())
        let p = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/studio", sessions: dir.path), platform: .current)
        #expect(try await p.stat("/My Drive/studio/dup.ma")?.size == Int64(older.count))
        #expect(try await p.download("/My Drive/studio/dup.ma", to: "\(dir.path)/dl", progress: { _ in }) == digest(older))
        let file = try dir.file("replacement", size: 3000, seed: 4)
        let d = try LocalFiles.digest(of: file)
        let report = try await p.upload(localFile: file, to: "/My Drive/studio/dup.ma", expected: d, progress: { _ in })
        #expect(report.movedAside?.contains("dup.ma.sitesync-conflict-") == true, "\(report)")
        let kept = try #require(await server.store.items[oldID])
        #expect(kept.data == older && kept.name.hasPrefix("dup.ma.sitesync-conflict-"), "the old file keeps its bytes and id under a conflict name")
        #expect(await server.store.children(of: studio).filter { $0.name == "dup.ma" }.count == 1)
        #expect(try await p.download("/My Drive/studio/dup.ma", to: "\(dir.path)/dl2", progress: { _ in }) == d)
        await server.stop()
    }

    @Test("an upload killed mid-way resumes from the persisted session")
    func resumeFromPersistedSession() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        let sessions = try dir.sub("sessions")
        var slow = try driveSite(server, root: "/My Drive/studio", sessions: sessions)
        slow.bandwidthLimit = 4 << 20
        let first = try GoogleDriveProvider(site: slow, platform: .current)
        let file = try dir.file("big.bin", size: 8 << 20, seed: 5)
        let d = try LocalFiles.digest(of: file)
        let target = "/My Drive/studio/big.bin"
        let task = Task { try await first.upload(localFile: file, to: target, expected: d, progress: { _ in }) }
        try await eventually("part of the upload to arrive", timeout: 120) { await server.store.uploadBytes > 2 << 20 }
        task.cancel()
        _ = await task.result
        let beforeResume = await server.store.uploadBytes
        #expect(await server.store.item(at: ["My Drive", "studio", "big.bin"]) == nil, "nothing visible before the last byte")
        #expect(!filesBelow(sessions).isEmpty, "the session URL is kept on disk")
        // A new process (a new provider) picks the session up.
        let second = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/studio", sessions: sessions), platform: .current)
        try await second.upload(localFile: file, to: target, expected: d, progress: { _ in })
        let item = try #require(await server.store.item(at: ["My Drive", "studio", "big.bin"]))
        #expect(digest(item.data) == d)
        // Resumed, not started over: the second process sent only what Google did not have.
        let resent = await server.store.uploadBytes - beforeResume
        #expect(resent <= Int64(d.size) - (2 << 20) + (1 << 20), "resumed: \(resent) bytes sent again for a \(d.size)-byte file")
        #expect(filesBelow(sessions).isEmpty)
        await server.stop()
    }

    @Test("rate-limit storms, 5xx, dropped connections and an expired token end with everything verified")
    func faults() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        let p = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/studio", sessions: dir.path), platform: .current)
        let file = try dir.file("f.bin", size: 900_000, seed: 6)
        let d = try LocalFiles.digest(of: file)
        // Five failures in a row: within one request's retries.
        await server.inject(.rateLimit(2))
        await server.inject(.tooMany(1, retryAfter: 1))
        await server.inject(.serverError(2))
        await server.inject(.dropMidChunk)
        try await p.upload(localFile: file, to: "/My Drive/studio/a/f.bin", expected: d, progress: { _ in })
        await server.inject(.expireTokens)
        await server.inject(.dropMidDownload)
        #expect(try await p.download("/My Drive/studio/a/f.bin", to: "\(dir.path)/back", progress: { _ in }) == d)
        #expect(try LocalFiles.digest(of: "\(dir.path)/back") == d)
        #expect(await server.store.rateLimited == 3)
        await server.stop()
    }

    @Test("engine: an artist publishes to Drive; a second machine downloads; a rate-limit storm fails nothing")
    func engineScenario() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        let settings = """
            sites:
              gdrive:
                provider: gdrive
                credentials_file: \(server.keyFile)
                api_base_url: \(server.baseURL)
                roots: {work: "/My Drive/studio"}
                session_dir: \(dir.path)/sessions
                chunk_size: 256K
                retry_base: 0.05
            projects:
              default: {sitesync: {active_site: local, remote_site: gdrive, retry_count: 1, retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        func machine(_ id: String, create: Bool = false) throws -> SiteSync {
            let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/\(id).yaml",
                                          siteIDOverride: id, pollInterval: 0.05)
            let engine = try SiteSyncStandard.open(env, create: create)
            _ = try engine.setLocal(project: nil, roots: ["work": "\(dir.path)/\(id)"], activeSite: nil, remoteSite: nil)
            return engine
        }
        let anna = try machine("ws-anna", create: true)
        try await anna.importSettings(yaml: settings, source: "test")
        #expect(try await anna.checkSite("gdrive", project: "robots").contains { $0.contains("authenticated as") })
        let files = try (0..<5).map { try dir.file("src/frame.\(1001 + $0).exr", size: 300_000 + $0, seed: UInt64($0)) }
        let rep = try await anna.publish(RepresentationContext(project: "robots", folder: "shots/sh010", product: "render",
                                                                version: 1, name: "exr"), files: files)
        // A storm on uploads longer than one request's retries (the site check's listing is not touched): files go
        // back to the queue without using up their tries, and get there once it passes. With retry_count 1, a
        // storm that counted as a try would fail a file for good.
        await server.inject(.rateLimitUploads(30))
        let up = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(up.failed.isEmpty)
        #expect(up.moved.count == 5)
        #expect(await server.store.uploadsRateLimited == 30, "the injected storm must have reached the uploads")
        #expect(up.retriesScheduled > 0, "some files must have gone back to the queue (the path under test)")
        let states = try await anna.show(rep.representation.id).states.filter { $0.site == "gdrive" }
        #expect(states.allSatisfy { $0.status == .synced && $0.tries == 0 }, "\(states.map(\.tries))")
        let bob = try machine("ws-bob")
        _ = try await bob.download(rep.representation.id, priority: nil)
        let down = try await SyncServer(engine: bob, options: ServerOptions(once: true)).runUntilIdle()
        #expect(down.moved.count == 5)
        for file in rep.files {
            let path = RootlessPath.join("\(dir.path)/ws-bob", RootlessPath.split(file.path)!.relative)
            #expect(try LocalFiles.digest(of: path) == ContentDigest(size: file.size, sha256: file.sha256))
        }
        await server.stop()
    }

    @Test("checksums: md5 when Drive gives no sha256; a corrupted upload is refused; listing pages through")
    func checksumsAndPaging() async throws {
        let dir = try TemporaryDirectory("gdrive")
        let server = try await DriveContractServer(directory: dir.path)
        let studio = await server.store.add(name: "studio", parent: "root", folder: true)
        let p = try GoogleDriveProvider(site: try driveSite(server, root: "/My Drive/studio", sessions: dir.path), platform: .current)
        let file = try dir.file("c.bin", size: 600_000, seed: 8)
        let d = try LocalFiles.digest(of: file)
        await server.store.set(withoutSHA256: true)
        try await p.upload(localFile: file, to: "/My Drive/studio/md5.bin", expected: d, progress: { _ in })
        await server.store.set(withoutSHA256: false)
        await server.store.corruptNext()
        do {
            try await p.upload(localFile: file, to: "/My Drive/studio/bad.bin", expected: d, progress: { _ in })
            Issue.record("a corrupted upload must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .integrity)
        }
        #expect(await server.store.item(at: ["My Drive", "studio", "bad.bin"]) == nil, "the corrupted new file is removed")
        // 120 files of one name: two pages of answers; the oldest still wins.
        let oldest = await server.store.add(name: "many.ma", parent: studio, folder: false, data: Data("first".utf8),
                                            created: Date(timeIntervalSinceNow: -1000))
        for i in 0..<119 {
            await server.store.add(name: "many.ma", parent: studio, folder: false, data: Data("later \(i)".utf8),
                                   created: Date(timeIntervalSinceNow: Double(-900 + i)))
        }
        _ = oldest
        #expect(try await p.stat("/My Drive/studio/many.ma")?.size == 5)
        // A cached folder deleted behind our back is found again.
        let sub = try dir.file("s.bin", size: 1000, seed: 9)
        try await p.upload(localFile: sub, to: "/My Drive/studio/gone/s.bin", expected: try LocalFiles.digest(of: sub), progress: { _ in })
        let gone = try #require(await server.store.item(at: ["My Drive", "studio", "gone"]))
        _ = await server.store.delete(gone.id)
        try await p.upload(localFile: sub, to: "/My Drive/studio/gone/s.bin", expected: try LocalFiles.digest(of: sub), progress: { _ in })
        #expect(await server.store.item(at: ["My Drive", "studio", "gone", "s.bin"]) != nil)
        await server.stop()
    }

    static let liveKey = ProcessInfo.processInfo.environment["SITESYNC_GDRIVE_TEST_KEY"]
    static let liveRoot = ProcessInfo.processInfo.environment["SITESYNC_GDRIVE_TEST_ROOT"]

    @Test("live: real Google Drive (set SITESYNC_GDRIVE_TEST_KEY and SITESYNC_GDRIVE_TEST_ROOT; this machine has no network)",
          .enabled(if: liveKey != nil && liveRoot != nil,
                   "SITESYNC_GDRIVE_TEST_KEY and SITESYNC_GDRIVE_TEST_ROOT are not set: the live Google Drive test cannot run here"))
    func live() async throws {
        let dir = try TemporaryDirectory("gdrive-live")
        let root = try #require(Self.liveRoot)
        let studio = StudioSettings(document: .map(["sites": .map(["live": .map([
            "provider": .string("gdrive"), "credentials_file": .string(try #require(Self.liveKey)),
            "roots": .map(["work": .string(root)]), "session_dir": .string(dir.path),
        ])])]))
        let site = try SettingsContext(studio: studio, local: LocalSettings(), siteID: "ws").project("p").site("live")
        let fixture = ProviderFixture(root: root + "/sitesync-live-test-\(UUID().uuidString.prefix(8))", scratch: try dir.sub("s")) { limit in
            var s = site
            s.bandwidthLimit = limit
            return try GoogleDriveProvider(site: s, platform: .current)
        }
        for name in ProviderConformance.names { try await ProviderConformance.run(name, fixture) }
    }
}

@Suite("Verify and heal: Google Drive")
struct DriveVerifyTests {
    @Test("deleted and corrupted copies on Drive are found (Drive's own hash), marked, healed from backup")
    func drive() async throws {
        let dir = try TemporaryDirectory("gdriveverify")
        let server = try await DriveContractServer(directory: dir.path)
        await server.store.add(name: "studio", parent: "root", folder: true)
        _ = try dir.sub("backup")
        let settings = """
            sites:
              gdrive:
                provider: gdrive
                credentials_file: \(server.keyFile)
                api_base_url: \(server.baseURL)
                roots: {work: "/My Drive/studio"}
                session_dir: \(dir.path)/sessions
                retry_base: 0.05
              backup: {provider: local_drive, roots: {work: \(dir.path)/backup}}
            projects:
              default: {sitesync: {active_site: local, remote_site: gdrive, always_accessible_on: [backup], retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        let store = server.store
        @Sendable func item(_ rootless: String) async -> DriveStore.Item? {
            await store.item(at: ["My Drive", "studio"] + RootlessPath.split(rootless)!.relative.split(separator: "/").map(String.init))
        }
        try await VerifyScenario.run(DamageFixture(
            site: "gdrive", scratch: try dir.sub("src"),
            machine: machine,
            delete: { path in
                let found = await item(path)
                #expect(found != nil)
                if let found { await store.delete(found.id) }
            },
            corrupt: { path, size in
                let found = await item(path)
                #expect(found != nil)
                if let found { await store.replaceData(found.id, with: TemporaryDirectory.bytes(size: Int(size), seed: 999)) }
            },
            digest: { path in
                guard let data = await item(path)?.data else { return nil }
                let file = "\(dir.path)/read-\(UUID().uuidString)"
                try data.write(to: URL(fileURLWithPath: file))
                defer { try? FileManager.default.removeItem(atPath: file) }
                return try LocalFiles.digest(of: file)
            }))
        await server.stop()
    }
}
