import Foundation
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

/// The promises a studio trusts SiteSync for, each in a case that broke them once.
@Suite("Promises: never lie about a copy")
struct PromiseTests {
    /// A server running in the background until `stop()`.
    final class Background: @unchecked Sendable {
        let server: SyncServer
        let task: Task<RunSummary, any Error>
        init(_ engine: SiteSync, options: ServerOptions = ServerOptions()) {
            let server = SyncServer(engine: engine, options: options)
            self.server = server
            task = Task { try await server.runUntilIdle() }
        }
        @discardableResult
        func stop() async throws -> RunSummary {
            task.cancel()
            return try await task.value
        }
    }

    func state(_ engine: SiteSync, _ id: String, site: String) async throws -> FileSiteState? {
        try await engine.show(id).states.first { $0.site == site }
    }

    // MARK: 1. A vanished root is never re-created

    @Test("a long-running server never writes into a root that vanished after it was used")
    func vanishedRoot() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let first = try await studio.publish(anna, files: [try studio.source("a.ma")])
        let server = Background(anna)
        try await eventually("the first file on backup") { studio.verified(first, on: "backup") }
        // The backup share is unmounted: its folder is gone.
        let backup = "\(studio.dir.path)/backup"
        try FileManager.default.removeItem(atPath: backup)
        let second = try await studio.publish(anna, version: 2, files: [try studio.source("b.ma", seed: 2)])
        try await eventually("the second file on studio") { studio.verified(second, on: "studio") }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(!FileManager.default.fileExists(atPath: backup), "a transfer re-created the vanished root")
        let row = try #require(try await state(anna, second.representation.id, site: "backup"))
        #expect(row.status == .queued && row.tries == 0, "\(row)")
        // An empty folder where the mount was (another file system's root replaced by a plain folder): refused too.
        try FileManager.default.createDirectory(atPath: backup, withIntermediateDirectories: false)
        let third = try await studio.publish(anna, version: 3, files: [try studio.source("c.ma", seed: 3)])
        try await eventually("the third file on studio") { studio.verified(third, on: "studio") }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(filesBelow(backup).isEmpty, "wrote into a replaced root: \(filesBelow(backup))")
        let summary = try await server.stop()
        #expect(summary.unavailable["backup"]?.contains("backup") == true, "\(summary.unavailable)")
    }

    // MARK: 2. The catalog is re-checked

    @Test("a copy deleted or corrupted behind the catalog: the download heals from backup without a try counted")
    func staleSource() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("gone.ma", seed: 1), try studio.source("rot.ma", seed: 2)])
        _ = try await studio.once(anna)
        let gone = try #require(rep.files.first { $0.path.hasSuffix("gone.ma") })
        let rot = try #require(rep.files.first { $0.path.hasSuffix("rot.ma") })
        try FileManager.default.removeItem(atPath: studio.path(gone, on: "studio"))
        try TemporaryDirectory.bytes(size: Int(rot.size), seed: 77).write(to: URL(fileURLWithPath: studio.path(rot, on: "studio")))
        let bob = try studio.machine("ws-bob")
        _ = try await bob.download(rep.representation.id, priority: nil)
        let summary = try await studio.once(bob)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(studio.verified(rep, on: "ws-bob"))
        #expect(summary.moved.allSatisfy { $0.source == "backup" }, "\(summary.moved.map(\.source))")
        let states = try await bob.show(rep.representation.id).states
        #expect(states.filter { $0.site == "ws-bob" }.allSatisfy { $0.tries == 0 && $0.status == .synced })
        #expect(states.first { $0.site == "studio" && $0.fileID == gone.id }?.status == .missing)
        #expect(states.first { $0.site == "studio" && $0.fileID == rot.id }?.status == .corrupt)
    }

    @Test("remove-site checks that the copies it relies on are really there")
    func removeSiteChecksCopies() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("keep.ma")])
        _ = try await studio.once(anna)
        let file = try #require(rep.files.first)
        // Someone deletes the backup copy by hand; the catalog still says synced.
        try FileManager.default.removeItem(atPath: studio.path(file, on: "backup"))
        _ = try await anna.removeSite(rep.representation.id, site: "local", keepFiles: false)
        // Now studio would be left relying on backup alone, which is not really there.
        do {
            _ = try await anna.removeSite(rep.representation.id, site: "studio", keepFiles: false)
            Issue.record("removed studio's copy while the only other copy was missing")
        } catch {
            #expect(ErrorKind.of(error) == .conflict, "\(error)")
            #expect("\(error)".contains("backup"), "\(error)")
        }
        #expect(studio.verified(rep, on: "studio"))
    }

    // MARK: 3. Pause stops a running transfer

    @Test("pause stops a running disk-to-disk copy within a second; nothing is renamed into place")
    func pauseStopsTransfer() async throws {
        let studio = try await TestStudio(settings: """
            projects:
              default: {sitesync: {active_site: local, remote_site: backup}}
              robots: {roots: {work: $DIR/studio}}
            sites:
              backup: {provider: local_drive, roots: {work: $DIR/backup}, bandwidth_limit: 2M}
            """)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("big.bin", size: 16 << 20)])
        let file = try #require(rep.files.first)
        let target = studio.path(file, on: "backup")
        let temporary = LocalFiles.temporaryPath(for: target)
        let server = Background(anna)
        try await eventually("the copy to start") { FileManager.default.fileExists(atPath: temporary) }
        try await anna.setPaused(.representation(rep.representation.id), true)
        let paused = Date()
        try await eventually("the copy to stop", timeout: 5) { !FileManager.default.fileExists(atPath: temporary) }
        #expect(Date().timeIntervalSince(paused) < 1.5, "took \(Date().timeIntervalSince(paused)) s")
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try await state(anna, rep.representation.id, site: "backup")?.status == .paused)
        try await server.stop()
    }

    // MARK: 4. Never overwrite what we did not write

    @Test("a file SiteSync did not write is moved aside, never overwritten; an identical one is adopted")
    func noSilentOverwrite() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("hand.ma", seed: 1), try studio.source("same.ma", seed: 2)])
        let hand = try #require(rep.files.first { $0.path.hasSuffix("hand.ma") })
        let same = try #require(rep.files.first { $0.path.hasSuffix("same.ma") })
        // An old, different file where studio's copy goes; an identical copy where the other one goes.
        let handTarget = studio.path(hand, on: "studio")
        try FileManager.default.createDirectory(atPath: (handTarget as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let old = TemporaryDirectory.bytes(size: 777, seed: 99)
        try old.write(to: URL(fileURLWithPath: handTarget))
        try FileManager.default.copyItem(atPath: studio.path(same, on: "ws-anna"), toPath: studio.path(same, on: "studio"))
        let summary = try await studio.once(anna)
        #expect(summary.failed.isEmpty)
        #expect(studio.verified(rep, on: "studio"))
        let folder = (handTarget as NSString).deletingLastPathComponent
        let conflicts = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("hand.ma.sitesync-conflict-") }
        #expect(conflicts.count == 1, "\(filesBelow(folder))")
        if let conflict = conflicts.first {
            #expect(FileManager.default.contents(atPath: "\(folder)/\(conflict)") == old)
        }
        // The identical file was adopted, not copied again.
        #expect(!summary.moved.contains { $0.path == same.path && $0.target == "studio" })
        #expect(try await state(anna, rep.representation.id, site: "studio").map { _ in true } == true)
        #expect(try await studio.statuses(anna, rep.representation.id, site: "studio") == [.synced, .synced])
    }

    // MARK: 5. Stable publish

    @Test("a file that changes while it is published fails the publish, naming it; nothing is stored")
    func unstablePublish() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let growing = try studio.source("growing.exr", size: 48 << 20)
        // Another program keeps appending to the file while it is read (a thread of its own, not the task pool).
        let stop = CancellationFlag()
        let appended = CancellationFlag()
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: growing) else { return }
            handle.seekToEndOfFile()
            while !stop.isCancelled {
                handle.write(Data(repeating: 7, count: 64 << 10))
                appended.cancel()
                usleep(2_000)
            }
            try? handle.close()
        }
        writer.start()
        defer { stop.cancel() }
        try await eventually("the writer to start") { appended.isCancelled }
        do {
            _ = try await studio.publish(anna, files: [growing])
            Issue.record("a file that grew while it was read was published")
        } catch {
            #expect("\(error)".contains("growing.exr") && "\(error)".contains("changed while"), "\(error)")
        }
        #expect(try await anna.status(project: "robots", site: nil).isEmpty)
        #expect(filesBelow("\(studio.dir.path)/ws-anna").isEmpty, "\(filesBelow("\(studio.dir.path)/ws-anna"))")
    }

    @Test("a publish refused because another representation has the path writes nothing")
    func refusedPublishWritesNothing() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let anna = try studio.machine("ws-anna")
        let first = try await studio.publish(anna, files: [try studio.source("a.ma", seed: 1)])
        let other = try studio.dir.file("other/a.ma", size: 500, seed: 9)
        let extra = try studio.dir.file("other/new.ma", size: 500, seed: 10)
        do {
            _ = try await anna.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: "model", version: 1, name: "mz"),
                                       files: [extra, other])
            Issue.record("a second representation wrote over the first one's file")
        } catch {
            #expect(ErrorKind.of(error) == .conflict, "\(error)")
        }
        #expect(studio.verified(first, on: "ws-anna"))
        #expect(filesBelow("\(studio.dir.path)/ws-anna").count == 1, "\(filesBelow("\(studio.dir.path)/ws-anna"))")
    }

    // MARK: 6. One project does not block all

    @Test("a project with a missing root is skipped and named; the other projects keep syncing")
    func oneProjectBlocksNone() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        let admin = try studio.machine("ws-admin")
        try await admin.addProject("aliens", roots: ["work": "\(studio.dir.path)/not-mounted"])
        let anna = try studio.machine("ws-anna")
        let rep = try await studio.publish(anna, files: [try studio.source("r.ma")])
        let summary = try await studio.once(anna)
        #expect(studio.verified(rep, on: "studio") && studio.verified(rep, on: "backup"), "\(summary.unavailable)")
        // Nothing of aliens was waiting: its missing root is no news yet. Queue something for it.
        _ = try anna.setLocal(project: "aliens", roots: [:], activeSite: "local", remoteSite: "studio")
        _ = try await anna.publish(RepresentationContext(project: "aliens", folder: "a", product: "p", version: 1, name: "ma"),
                                   files: [try studio.source("alien.ma")])
        let second = try await studio.publish(anna, version: 2, files: [try studio.source("r2.ma", seed: 4)])
        let again = try await studio.once(anna)
        #expect(studio.verified(second, on: "studio"))
        #expect(again.unavailable.keys.contains { $0.contains("aliens") }, "\(again.unavailable)")
        #expect(again.unavailable.values.contains { $0.contains("not-mounted") })
        #expect(!again.unavailable.keys.contains("studio"), "studio is fine for robots: \(again.unavailable)")
    }

    // MARK: 7. Identity

    @Test("a site id equal to a configured or built-in site is refused; an empty local settings file is an error")
    func identity() async throws {
        let studio = try await TestStudio(settings: TestStudio.standard)
        for name in ["studio", "backup", "local"] {
            let env = SiteSyncEnvironment(catalogLocation: studio.catalogPath, localSettingsPath: "\(studio.dir.path)/\(name).yaml",
                                          siteIDOverride: name)
            do {
                let engine = try SiteSyncStandard.open(env)
                _ = try await engine.context()
                Issue.record("site id '\(name)' was accepted")
            } catch {
                #expect("\(error)".contains("'\(name)'") && "\(error)".contains("site id"), "\(error)")
            }
        }
        let emptied = "\(studio.dir.path)/emptied.yaml"
        try "".write(toFile: emptied, atomically: true, encoding: .utf8)
        let env = SiteSyncEnvironment(catalogLocation: studio.catalogPath, localSettingsPath: emptied)
        #expect(throws: (any Error).self) { _ = try SiteSyncStandard.open(env) }
        #expect(try String(contentsOfFile: emptied, encoding: .utf8).isEmpty, "a new id was written")
    }
}
