import Foundation
import SiteSyncCatalog
import SiteSyncModel
import SiteSyncEngine
import SiteSyncProviders

/// `sitesync demo`: a real sync on the embedded catalog, in a throw-away folder.
///
/// An artist machine publishes to its local site; its server uploads to `studio` and copies to `backup`
/// (`always_accessible_on`); a second machine downloads one representation; every copy is re-hashed.
public enum Demo {
    public static func run(in dir: String, print: @escaping @Sendable (String) -> Void) async throws -> Bool {
        let started = Date()
        let fm = FileManager.default
        for sub in ["studio", "backup", "artist", "bob", "sources"] {
            try fm.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        let studioYAML = """
            enabled: true
            sites:
              backup:
                provider: local_drive
                roots: {work: "\(dir)/backup"}
            projects:
              default:
                sitesync: {enabled: true, retry_count: 3, loop_delay: 60, active_site: local, remote_site: studio,
                           always_accessible_on: [backup]}
              demo:
                roots: {work: "\(dir)/studio"}
            """
        let catalogPath = "\(dir)/catalog.sqlite"
        let artistEnv = SiteSyncEnvironment(catalogLocation: catalogPath, localSettingsPath: "\(dir)/artist.yaml",
                                            siteIDOverride: "ws-demo-anna")
        let artist = try SiteSyncStandard.open(artistEnv, create: true)
        _ = try artist.setLocal(project: nil, roots: ["work": "\(dir)/artist"], activeSite: nil, remoteSite: nil)
        try await artist.importSettings(yaml: studioYAML, source: "demo studio settings")
        print("demo studio in \(dir)")
        print("sites: studio=\(dir)/studio  backup=\(dir)/backup  ws-demo-anna=\(dir)/artist  ws-demo-bob=\(dir)/bob")

        // Sample files: a workfile, a cache and a short image sequence.
        func sample(_ name: String, _ size: Int) throws -> String {
            let path = "\(dir)/sources/\(name)"
            var words = [UInt64](repeating: 0, count: (size + 7) / 8)
            for i in words.indices { words[i] = UInt64.random(in: 0...UInt64.max) }
            let data = words.withUnsafeBytes { Data($0.prefix(size)) }
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
        let model = try await artist.publish(RepresentationContext(project: "demo", folder: "chars/robot", product: "modelMain",
                                                              version: 1, name: "ma", task: "modeling", host: "maya"),
                                       files: [try sample("robot_model_v001.ma", 300_000)])
        let cache = try await artist.publish(RepresentationContext(project: "demo", folder: "chars/robot", product: "animCache",
                                                              version: 3, name: "abc", task: "animation"),
                                       files: [try sample("robot_anim_v003.abc", 4_000_000)], inputs: [model.representation.id])
        let frames = try (1001...1010).map { try sample("robot_beauty_v002.\($0).exr", 150_000) }
        let render = try await artist.publish(RepresentationContext(project: "demo", folder: "shots/sh010", product: "renderBeauty",
                                                               version: 2, name: "exr", task: "lighting"), files: frames)
        print("published 3 representations (\(1 + 1 + frames.count) files) on ws-demo-anna:")
        for r in [model, cache, render] {
            print("  \(r.representation.id)  \(r.representation.context.product) v\(r.representation.context.version) \(r.representation.context.name)")
        }

        print("\n== server on ws-demo-anna (active: local, remote: studio, always accessible on: backup)")
        let first = try await SyncServer(engine: artist, options: ServerOptions(once: true)).runUntilIdle()
        report(first, print: print)

        print("\n== second machine ws-demo-bob downloads the anim cache (and the model it was made from)")
        let bobEnv = SiteSyncEnvironment(catalogLocation: catalogPath, localSettingsPath: "\(dir)/bob.yaml",
                                         siteIDOverride: "ws-demo-bob")
        let bob = try SiteSyncStandard.open(bobEnv)
        _ = try bob.setLocal(project: nil, roots: ["work": "\(dir)/bob"], activeSite: "local", remoteSite: "studio")
        let (_, queued) = try await bob.download(cache.representation.id, priority: 80)
        print("queued \(queued.count) representation(s) for ws-demo-bob")
        let second = try await SyncServer(engine: bob, options: ServerOptions(once: true)).runUntilIdle()
        report(second, print: print)

        print("\n== final state, every copy re-hashed and compared with the catalog")
        let ctx = try await bob.context()
        let project = try ctx.project("demo")
        var sites = project.sites
        sites["ws-demo-anna"] = SiteConfig(name: "ws-demo-anna", provider: SiteConfig.localDrive,
                                           roots: ["work": RootPath("\(dir)/artist")])
        var verified = 0
        var problems: [String] = []
        for summary in try await bob.status(project: "demo", site: nil) {
            let id = summary.representation.id
            let c = summary.representation.context
            print("\(c.product) v\(c.version) \(c.name) (\(summary.fileCount) files, \(ByteCount.format(summary.totalBytes)))")
            let detail = try await bob.show(id)
            for site in summary.sites {
                var checked = 0
                for file in detail.files {
                    guard let state = detail.states.first(where: { $0.fileID == file.id && $0.site == site.site }),
                          state.status == .synced, let config = sites[site.site] else { continue }
                    let path = try project.path(of: file.path, on: config)
                    let digest = try LocalFiles.digest(of: path)
                    if digest.sha256 == file.sha256 && digest.size == file.size {
                        checked += 1
                    } else {
                        problems.append("\(path): \(digest) but the catalog says \(file.sha256)")
                    }
                }
                verified += checked
                print("    \(site.site.padding(toLength: 13, withPad: " ", startingAt: 0)) \(site.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(checked)/\(summary.fileCount) verified (sha256)")
            }
        }
        let allMoved = first.moved.count + second.moved.count
        let bytes = first.bytes + second.bytes
        print("\nmoved \(allMoved) files (\(ByteCount.format(bytes))), verified \(verified) copies, \(problems.count) problem(s), in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        for p in problems { print("PROBLEM: \(p)") }
        return problems.isEmpty && first.succeeded && second.succeeded && allMoved == 12 * 2 + 2
    }

    static func report(_ summary: RunSummary, print: @Sendable (String) -> Void) {
        for m in summary.moved.sorted(by: { ($0.target, $0.path) < ($1.target, $1.path) }) {
            print("  \(m.source) → \(m.target)  \(m.path)  \(ByteCount.format(m.size))")
        }
        print("  \(summary.moved.count) transfers, \(ByteCount.format(summary.bytes)) in \(String(format: "%.2f", summary.elapsed)) s, \(summary.failed.count) failed")
        for f in summary.failed { print("  FAILED: \(f)") }
    }
}
