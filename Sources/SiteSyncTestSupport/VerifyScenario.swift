import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import Testing

/// The "never lie about a copy" scenario every provider runs: copies on the site under test are deleted and
/// corrupted behind the catalog's back; `verify` finds and marks them, `verify --fix` heals them from the backup
/// site, and a download whose source was corrupted completes from the backup without a try counted.
public struct DamageFixture: Sendable {
    /// The site under test: the project's `remote_site`; a local `backup` site is in `always_accessible_on`.
    public var site: String
    /// An engine acting as machine `id` (its own site, `local`, is the active site), all sharing one catalog.
    public var machine: @Sendable (_ id: String) throws -> SiteSync
    /// Deletes the copy of a file (rootless path) on the site under test.
    public var delete: @Sendable (_ rootless: String) async throws -> Void
    /// Replaces the copy of a file with other bytes of the same size.
    public var corrupt: @Sendable (_ rootless: String, _ size: Int64) async throws -> Void
    /// The digest of the copy on the site under test, read back independently of the provider; nil when absent.
    public var digest: @Sendable (_ rootless: String) async throws -> ContentDigest?
    /// A local folder for source files.
    public var scratch: String

    public init(site: String, scratch: String, machine: @escaping @Sendable (String) throws -> SiteSync,
                delete: @escaping @Sendable (String) async throws -> Void,
                corrupt: @escaping @Sendable (String, Int64) async throws -> Void,
                digest: @escaping @Sendable (String) async throws -> ContentDigest?) {
        self.site = site
        self.scratch = scratch
        self.machine = machine
        self.delete = delete
        self.corrupt = corrupt
        self.digest = digest
    }
}

public enum VerifyScenario {
    /// Machines sharing one catalog in `dir`, each with its own site folder `dir/<id>`; `open` opens an engine
    /// (a test's composition root). The admin machine imports `settings` first.
    public static func machines(in dir: String, settings: String,
                                open: @escaping @Sendable (SiteSyncEnvironment, _ create: Bool) throws -> SiteSync)
        async throws -> @Sendable (String) throws -> SiteSync {
        let environment: @Sendable (String) -> SiteSyncEnvironment = { id in
            SiteSyncEnvironment(catalogLocation: "\(dir)/catalog.sqlite", localSettingsPath: "\(dir)/\(id).yaml",
                                siteIDOverride: id, pollInterval: 0.05)
        }
        try await open(environment("ws-admin"), true).importSettings(yaml: settings, source: "test")
        return { id in
            let engine = try open(environment(id), false)
            _ = try engine.setLocal(project: nil, roots: ["work": "\(dir)/\(id)"], activeSite: nil, remoteSite: nil)
            return engine
        }
    }

    public static func run(_ f: DamageFixture, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let anna = try f.machine("ws-anna")
        let sources = try (0..<3).map { i -> String in
            let path = "\(f.scratch)/verify-src-\(i).exr"
            try TemporaryDirectory.bytes(size: 200_000 + i, seed: UInt64(40 + i)).write(to: URL(fileURLWithPath: path))
            return path
        }
        let rep = try await anna.publish(RepresentationContext(project: "robots", folder: "shots/sh020", product: "render",
                                                                version: 1, name: "exr"), files: sources)
        let first = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(first.failed.isEmpty && first.moved.count == 6, "\(first.moved.count) moved, \(first.failed)", sourceLocation: sourceLocation)
        // Only the site under test and backup keep copies: healing must come from backup.
        _ = try await anna.removeSite(rep.representation.id, site: "local", keepFiles: false)
        let files = rep.files.sorted { $0.path < $1.path }
        let (gone, rotten, fine) = (files[0], files[1], files[2])
        try await f.delete(gone.path)
        try await f.corrupt(rotten.path, rotten.size)

        // verify finds both, marks them, says how.
        let report = try await anna.verify(.init(site: f.site))
        #expect(report.checked == 3 && report.good == 1, "\(report)", sourceLocation: sourceLocation)
        #expect(report.missing.count == 1 && report.missing[0].contains(gone.path), "\(report.missing)", sourceLocation: sourceLocation)
        #expect(report.corrupt.count == 1 && report.corrupt[0].contains(rotten.path), "\(report.corrupt)", sourceLocation: sourceLocation)
        var states = try await anna.show(rep.representation.id).states.filter { $0.site == f.site }
        #expect(states.first { $0.fileID == gone.id }?.status == .missing, sourceLocation: sourceLocation)
        #expect(states.first { $0.fileID == rotten.id }?.status == .corrupt, sourceLocation: sourceLocation)
        #expect(states.first { $0.fileID == rotten.id }?.problem?.contains("verify") == true, sourceLocation: sourceLocation)
        #expect(states.first { $0.fileID == fine.id }?.verifiedAt != nil, sourceLocation: sourceLocation)

        // --fix queues them again; a server heals them from backup, the only other good copy.
        let fixed = try await anna.verify(.init(site: f.site, fix: true))
        #expect(fixed.requeued == 2, "\(fixed)", sourceLocation: sourceLocation)
        let heal = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(heal.failed.isEmpty, "\(heal.failed)", sourceLocation: sourceLocation)
        #expect(Set(heal.moved.map(\.source)) == ["backup"] && heal.moved.count == 2, "\(heal.moved.map { "\($0.source)→\($0.target)" })",
                sourceLocation: sourceLocation)
        for file in [gone, rotten] {
            #expect(try await f.digest(file.path) == ContentDigest(size: file.size, sha256: file.sha256), "\(file.path)", sourceLocation: sourceLocation)
        }
        #expect(try await anna.verify(.init(site: f.site)).clean, sourceLocation: sourceLocation)

        // The copy rots again, unnoticed: a download from it completes from backup, no try counted.
        try await f.corrupt(rotten.path, rotten.size)
        let bob = try f.machine("ws-bob")
        _ = try await bob.download(rep.representation.id, priority: nil)
        let down = try await SyncServer(engine: bob, options: ServerOptions(once: true)).runUntilIdle()
        #expect(down.failed.isEmpty, "\(down.failed)", sourceLocation: sourceLocation)
        #expect(down.moved.first { $0.path == rotten.path }?.source == "backup", "\(down.moved.map { "\($0.path) from \($0.source)" })",
                sourceLocation: sourceLocation)
        #expect(down.damaged.count == 1, "\(down.damaged)", sourceLocation: sourceLocation)
        states = try await bob.show(rep.representation.id).states
        #expect(states.filter { $0.site == "ws-bob" }.allSatisfy { $0.status == .synced && $0.tries == 0 }, sourceLocation: sourceLocation)
        #expect(states.first { $0.site == f.site && $0.fileID == rotten.id }?.status == .corrupt, sourceLocation: sourceLocation)
    }
}
