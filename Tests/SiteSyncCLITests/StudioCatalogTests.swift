import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncLocalDrive
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A studio on one PostgreSQL catalog: several sync server processes acting as the same site, artists' machines
/// publishing at once, a server killed with SIGKILL, the database restarted under them. The `studio` and `backup`
/// sites count every finished upload (`count_file`): each copy must be written exactly once — a second server
/// finding a copy in place adopts it, never writes it again.
@Suite("Studio catalog on PostgreSQL (run alone)", .serialized)
struct StudioCatalogAloneTests {
    static let representations = 10
    static let perRepresentation = 100

    final class Studio: @unchecked Sendable {
        let pg: PostgresServer
        let url: String
        let dir: TemporaryDirectory
        var counts: String { "\(dir.path)/counts" }
        var servers: [ChildProcess] = []
        var published: [SiteSync.PublishResult] = []
        let catalog: any Catalog

        init(faultRate: Double = 0) async throws {
            try CLI.requireBinary()
            pg = try await PostgresServer.started()
            url = try await pg.newDatabase()
            dir = try TemporaryDirectory("studio-pg")
            for sub in ["studio", "share", "backup", "ws-a", "ws-b"] { _ = try dir.sub(sub) }
            catalog = try StandardCatalogs.open(url, create: true)
            _ = try await catalog.projects()  // `sitesync init`: the schema is created on first use
            let settings = """
                sites:
                  share: {provider: faulty, roots: {work: \(dir.path)/share}, fault_rate: \(faultRate), hang_seconds: 2, count_file: \(counts), concurrency: 8}
                  backup: {provider: faulty, roots: {work: \(dir.path)/backup}, fault_rate: \(faultRate), hang_seconds: 2, count_file: \(counts), concurrency: 8}
                projects:
                  default:
                    sitesync: {active_site: local, remote_site: share, always_accessible_on: [backup],
                               retry_count: 20, retry_backoff: 0.05, retry_backoff_max: 0.5}
                  show: {roots: {work: \(dir.path)/studio}}
                """
            try await machine("ws-a").importSettings(yaml: settings, source: "studio settings")
        }

        static var registry: ProviderRegistry {
            ProviderRegistry(StandardProviders.all + [FaultyProvider.description(wrapping: LocalDriveProvider.description)])
        }

        /// The engine of machine `id` (its own local settings; the shared catalog).
        func machine(_ id: String, activeSite: String? = nil) throws -> SiteSync {
            let env = SiteSyncEnvironment(catalogLocation: url, localSettingsPath: "\(dir.path)/\(id).yaml", siteIDOverride: id)
            let engine = try SiteSync(catalog: try StandardCatalogs.open(url, create: false), environment: env, registry: Self.registry)
            _ = try engine.setLocal(project: nil, roots: ["work": "\(dir.path)/\(id)"], activeSite: nil, remoteSite: nil)
            if let activeSite { _ = try engine.setLocal(project: "show", roots: [:], activeSite: activeSite, remoteSite: nil) }
            return engine
        }

        /// Publishes `count` representations of `perRepresentation` files from machine `engine`.
        func publish(from engine: SiteSync, tag: String, count: Int, perRepresentation: Int) async throws -> [SiteSync.PublishResult] {
            var out: [SiteSync.PublishResult] = []
            for r in 0..<count {
                let folder = try dir.sub("src-\(tag)/\(r)")
                let sources = try (0..<perRepresentation).map { i -> String in
                    let path = "\(folder)/\(tag)_\(r)_\(i).bin"
                    try TemporaryDirectory.bytes(size: 2048 + i, seed: UInt64(tag.hashValue & 0xffff) &* 1000 &+ UInt64(r * 1000 + i + 1))
                        .write(to: URL(fileURLWithPath: path))
                    return path
                }
                out.append(try await engine.publish(RepresentationContext(project: "show", folder: "\(tag)/shot\(r)", product: "plates",
                                                                           version: 1, name: "bin"), files: sources))
            }
            published += out
            return out
        }

        /// Starts a sync server process (the test build of `sitesync server`, with the counting provider).
        func startServer(_ id: String, activeSite: String? = nil) throws -> ChildProcess {
            var env = ProcessInfo.processInfo.environment
            env["SITESYNC_CATALOG"] = url
            env["SITESYNC_LOCAL_SETTINGS"] = "\(dir.path)/\(id).yaml"
            env["SITESYNC_SITE_ID"] = id
            env["SITESYNC_LEASE_SECONDS"] = "3"
            env["SITESYNC_STALL_SECONDS"] = "1"
            let n = servers.count
            let child = try ChildProcess([CLI.soakBinary, "--forever"] + (activeSite.map { ["--active-site", $0] } ?? []),
                                         environment: env, stdout: "\(dir.path)/server-\(n).out", stderr: "\(dir.path)/server-\(n).err")
            servers.append(child)
            return child
        }

        func log(_ n: Int) -> String { (try? String(contentsOfFile: "\(dir.path)/server-\(n).err", encoding: .utf8)) ?? "" }

        /// Upload lines so far: (kind, site, path, pid).
        func countLines() -> [(kind: String, site: String, path: String, pid: String)] {
            let text = (try? String(contentsOfFile: counts, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ").map(String.init)
                return parts.count == 4 ? (parts[0], parts[1], parts[2], parts[3]) : nil
            }
        }

        func synced(on sites: Set<String>) async throws -> Int {
            var n = 0
            for p in published {
                n += try await catalog.states(ofRepresentation: p.representation.id).filter { sites.contains($0.site) && $0.status == .synced }.count
            }
            return n
        }

        func waitUntil(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try await condition() { return true }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            return try await condition()
        }

        /// Stops every server (SIGTERM; a graceful stop) and says which had exited on their own before.
        func stopServers() async -> [Int] {
            var exitedEarly: [Int] = []
            for (n, s) in servers.enumerated() {
                if !s.isRunning { exitedEarly.append(n); continue }
                s.signal(SIGTERM)
            }
            for s in servers where !(await s.wait(timeout: 30)) { s.signal(SIGKILL) }
            return exitedEarly
        }

        /// Every file is synced on studio and backup with its bytes; every copy was written once (adopted at most
        /// by the servers that came after a crash), never twice.
        func expectEachCopyWrittenOnce(interrupted: Bool) async throws {
            var written: [String: Int] = [:], adopted: [String: Int] = [:]
            for line in countLines() {
                let key = "\(line.site) \(line.path)"
                if line.kind == "write" { written[key, default: 0] += 1 } else { adopted[key, default: 0] += 1 }
            }
            let twice = written.filter { $0.value > 1 }
            #expect(twice.isEmpty, "copies written more than once: \(twice.prefix(5))")
            var expected = 0
            for p in published {
                let states = try await catalog.states(ofRepresentation: p.representation.id)
                for file in p.files {
                    for site in ["share", "backup"] {
                        expected += 1
                        let state = states.first { $0.fileID == file.id && $0.site == site }
                        #expect(state?.status == .synced, "\(file.path) on \(site): \(state?.status.rawValue ?? "no row") \(state?.lastError ?? "")")
                        let path = RootlessPath.join("\(dir.path)/\(site)", RootlessPath.split(file.path)!.relative)
                        #expect(try LocalFiles.digest(of: path) == ContentDigest(size: file.size, sha256: file.sha256), "\(path) has other bytes")
                        let key = "\(site) \(path)"
                        #expect((written[key] ?? 0) + (adopted[key] ?? 0) >= 1, "no upload of \(key) was counted")
                    }
                }
            }
            #expect(written.count + adopted.keys.filter { written[$0] == nil }.count == expected,
                    "\(written.count) copies written, \(adopted.count) adopted, for \(expected) copies")
            if !interrupted { #expect(adopted.isEmpty, "adopted without a crash: \(adopted.prefix(5))") }
            for root in ["share", "backup"] {
                #expect(filesBelow("\(dir.path)/\(root)", where: LocalFiles.isTemporary).isEmpty, "partial files left under \(root)")
            }
        }
    }

    /// Four servers acting as `studio` and one artist server on ws-a; 1,000 files published from two machines
    /// (ws-a publishing locally, ws-b straight onto studio). `during` runs while the servers work.
    func run(_ studio: Studio, during: (Studio) async throws -> Set<String>) async throws {
        let wsA = try studio.machine("ws-a")
        let wsB = try studio.machine("ws-b", activeSite: "share")
        for n in 0..<4 { _ = try studio.startServer("share-\(n)", activeSite: "share") }
        _ = try studio.startServer("ws-a")
        let half = Self.representations / 2
        async let a = studio.publish(from: wsA, tag: "a", count: half, perRepresentation: Self.perRepresentation)
        async let b = studio.publish(from: wsB, tag: "b", count: half, perRepresentation: Self.perRepresentation)
        _ = try await (a, b)
        let killed = try await during(studio)
        let total = Self.representations * Self.perRepresentation * 2
        let done = try await studio.waitUntil(150) { try await studio.synced(on: ["share", "backup"]) >= total }
        let synced = try await studio.synced(on: ["share", "backup"])
        let exitedEarly = await studio.stopServers()
        // SITESYNC_KEEP_LOGS=DIR keeps the servers' logs for a look after the run (the test folder is removed).
        if let keep = ProcessInfo.processInfo.environment["SITESYNC_KEEP_LOGS"] {
            for n in studio.servers.indices { try? FileManager.default.copyItem(atPath: "\(studio.dir.path)/server-\(n).err", toPath: "\(keep)/server-\(n).err") }
        }
        #expect(done, "\(synced) of \(total) copies synced; server logs: \((0..<studio.servers.count).map { "[\($0)] " + studio.log($0).suffix(1200) })")
        let expectedExits = Set(killed.compactMap { Int($0) })
        #expect(Set(exitedEarly) == expectedExits, "servers that stopped on their own: \(exitedEarly); logs: \(exitedEarly.map { studio.log($0).suffix(1500) })")
        try await studio.expectEachCopyWrittenOnce(interrupted: !killed.isEmpty)
        // The four share servers shared the backup copies (SKIP LOCKED hands each its own rows).
        let backupWriters = Set(studio.countLines().filter { $0.site == "backup" }.map(\.pid))
        #expect(backupWriters.count >= 2, "only \(backupWriters.count) studio server(s) wrote to backup")
    }

    @Test("four share servers and an artist server, 1,000 files published from two machines: every copy written exactly once and verified")
    func manyServers() async throws {
        let studio = try await Studio()
        try await run(studio) { _ in [] }
    }

    @Test("a studio server killed with SIGKILL mid-run: its leased work is taken over after the lease, no copy written twice")
    func killedServer() async throws {
        let studio = try await Studio()
        try await run(studio) { studio in
            let started = try await studio.waitUntil(60) { studio.countLines().filter { $0.site == "backup" }.count >= 150 }
            #expect(started, "the share servers never got going")
            studio.servers[1].signal(SIGKILL)
            _ = studio.servers[1].wait()
            return ["1"]
        }
    }

    @Test("PostgreSQL stopped and restarted mid-run: no server exits, transfers resume, everything synced once")
    func databaseRestart() async throws {
        let studio = try await Studio()
        try await run(studio) { studio in
            let started = try await studio.waitUntil(60) { studio.countLines().filter { $0.site == "backup" }.count >= 150 }
            #expect(started, "the share servers never got going")
            await studio.pg.halt(immediate: true)
            // CLI commands during the outage: one clear line, a non-zero exit.
            let cli = CLI(dir: studio.dir, siteID: "ws-a", extra: ["SITESYNC_CATALOG": studio.url,
                                                                   "SITESYNC_LOCAL_SETTINGS": "\(studio.dir.path)/ws-a.yaml"])
            let status = try await cli.run("status", expect: nil)
            #expect(status.status == 5, "status during the outage exited \(status.status)")
            #expect(status.stderr.split(separator: "\n").count == 1 && status.stderr.contains("cannot reach"), "\(status.stderr)")
            try await Task.sleep(nanoseconds: 3_000_000_000)
            try await studio.pg.restart()
            // Transfers that finished during the outage may have lost their (3 s) leases meanwhile: the server
            // that takes them over finds the copy in place and adopts it — never writes it again.
            return ["database restarted"]
        }
    }

    @Test("a publish on one machine starts the transfer on another in under a second (LISTEN/NOTIFY, not polling)")
    func wakeUp() async throws {
        let studio = try await Studio()
        // loop_delay is 60 s: without a notification the studio server would look again only after a minute.
        _ = try studio.startServer("share-0", activeSite: "share")
        try await Task.sleep(nanoseconds: 2_000_000_000)
        let wsB = try studio.machine("ws-b", activeSite: "share")
        for round in 0..<3 {
            let rep = try await studio.publish(from: wsB, tag: "w\(round)", count: 1, perRepresentation: 1)[0]
            let published = Date()
            let started = try await studio.waitUntil(5) {
                try await studio.catalog.states(ofRepresentation: rep.representation.id)
                    .contains { $0.site == "backup" && ($0.status == .inProgress || $0.status == .synced) }
            }
            let seconds = Date().timeIntervalSince(published)
            #expect(started && seconds < 1, "round \(round): the studio server started the copy after \(String(format: "%.2f", seconds)) s")
            print("WAKEUP round \(round): \(String(format: "%.3f", seconds)) s from publish to transfer on another machine")
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        #expect(await studio.stopServers().isEmpty)
    }
}
