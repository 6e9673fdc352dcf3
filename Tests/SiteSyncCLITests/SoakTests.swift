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

/// A soak: 2,000 files through a site whose provider fails 30 % of its calls (errors, hangs past the stall
/// timeout, short reads, corrupted bytes), with the server SIGKILLed twice. Nothing may be marked synced that is
/// not on disk with its hash; nothing partial may sit under a final name; the server never stops on its own.
@Suite("Soak (run alone)", .serialized)
struct SoakAloneTests {
    static let files = 2_000
    static let perRepresentation = 100

    struct Run {
        var status: Int32
        var killed: Bool
        var stdout: String
        var stderr: String
    }

    /// Runs the soak server as machine `id`; with `killAfterSyncs`, SIGKILLs it once that many rows are synced.
    func server(_ dir: TemporaryDirectory, _ id: String, killWhen: (@Sendable () async throws -> Bool)? = nil) async throws -> Run {
        var env = ProcessInfo.processInfo.environment
        env["SITESYNC_CATALOG"] = "\(dir.path)/catalog.sqlite"
        env["SITESYNC_LOCAL_SETTINGS"] = "\(dir.path)/\(id).yaml"
        env["SITESYNC_SITE_ID"] = id
        env["SITESYNC_STALL_SECONDS"] = "0.5"
        env["SITESYNC_LEASE_SECONDS"] = "3"
        let token = UUID().uuidString.prefix(8)
        let out = "\(dir.path)/.soak-out-\(token)", err = "\(dir.path)/.soak-err-\(token)"
        let child = try ChildProcess([CLI.soakBinary], environment: env, stdout: out, stderr: err)
        var killed = false
        if let killWhen {
            let deadline = Date().addingTimeInterval(60)
            while child.isRunning && Date() < deadline {
                if try await killWhen() {
                    child.signal(SIGKILL)
                    killed = true
                    break
                }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        let finished = await child.wait(timeout: 150)
        if !finished {
            child.signal(SIGKILL)
            Issue.record("the soak server did not finish within 150 s")
        }
        return Run(status: child.wait(), killed: killed,
                   stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    @Test("2,000 files, 30 % of the calls failing, two SIGKILLs: every file synced and verified, or failed with a reason")
    func soak() async throws {
        try CLI.requireBinary()
        let dir = try TemporaryDirectory("soak")
        for sub in ["flaky", "backup", "studio", "ws-pub", "ws-dl"] { _ = try dir.sub(sub) }
        let settings = """
            sites:
              flaky: {provider: faulty, roots: {work: \(dir.path)/flaky}, fault_rate: 0.3, hang_seconds: 3, seed: 7, concurrency: 16}
              backup: {provider: local_drive, roots: {work: \(dir.path)/backup}}
            projects:
              default:
                sitesync: {active_site: local, remote_site: flaky, always_accessible_on: [backup],
                           retry_count: 10, retry_backoff: 0.05, retry_backoff_max: 0.5}
              soak: {roots: {work: \(dir.path)/studio}}
            """
        let registry = ProviderRegistry(StandardProviders.all + [FaultyProvider.description(wrapping: LocalDriveProvider.description)])
        func machine(_ id: String, create: Bool = false) throws -> SiteSync {
            let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/\(id).yaml",
                                          siteIDOverride: id)
            let engine = try SiteSync(catalog: try StandardCatalogs.open(env.catalogLocation, create: create), environment: env,
                                      registry: registry)
            _ = try engine.setLocal(project: nil, roots: ["work": "\(dir.path)/\(id)"], activeSite: nil, remoteSite: nil)
            return engine
        }
        let pub = try machine("ws-pub", create: true)
        try await pub.importSettings(yaml: settings, source: "soak settings")

        // 2,000 small files in 20 representations.
        var representations: [SiteSync.PublishResult] = []
        for r in 0..<(Self.files / Self.perRepresentation) {
            let folder = try dir.sub("src/\(r)")
            let sources = try (0..<Self.perRepresentation).map { i -> String in
                let path = "\(folder)/f\(r)_\(i).bin"
                try TemporaryDirectory.bytes(size: 4096 + (i % 7), seed: UInt64(r * 1000 + i + 1)).write(to: URL(fileURLWithPath: path))
                return path
            }
            representations.append(try await pub.publish(RepresentationContext(project: "soak", folder: "seq\(r)", product: "frames",
                                                                                version: 1, name: "bin"), files: sources))
        }
        let started = Date()
        func mark(_ what: String) { print("SOAK \(what) at \(String(format: "%.1f", Date().timeIntervalSince(started))) s") }
        mark("published")
        let catalog = pub.catalog
        let ids = representations.map(\.representation.id)
        @Sendable func synced(on site: String) async throws -> Int {
            var n = 0
            for id in ids { n += try await catalog.states(ofRepresentation: id).filter { $0.site == site && $0.status == .synced }.count }
            return n
        }

        // Upload: SIGKILL once 300 files are on the flaky site, then run to the end.
        let first = try await server(dir, "ws-pub") { try await synced(on: "flaky") >= 300 }
        #expect(first.killed, "the first server finished before it could be killed: \(first.stdout)")
        mark("first killed")
        let upload = try await server(dir, "ws-pub")
        mark("upload done")
        #expect(upload.status == 0 || upload.status == 1, "the server stopped abnormally (\(upload.status)): \(upload.stderr.suffix(2000))")

        // Download to a second machine: SIGKILL once 500 have arrived, then run to the end.
        let dl = try machine("ws-dl")
        for id in ids { _ = try await dl.download(id, priority: nil) }
        let second = try await server(dir, "ws-dl") { try await synced(on: "ws-dl") >= 500 }
        #expect(second.killed, "the download server finished before it could be killed")
        mark("second killed")
        let download = try await server(dir, "ws-dl")
        mark("download done")
        #expect(download.status == 0 || download.status == 1, "the server stopped abnormally (\(download.status)): \(download.stderr.suffix(2000))")

        // Faults really fired, of every kind (each run prints what it injected on stderr as the log shows).
        let logs = [first, upload, second, download].map(\.stderr).joined()
        for marker in ["injected: connection dropped", "stalled: no progress"] {
            #expect(logs.contains(marker), "no '\(marker)' in the servers' logs")
        }
        #expect(logs.contains("arrived damaged") || logs.contains("is corrupt"), "no short read or corrupted download was caught")

        // Every row is synced with the right bytes on disk, or failed with its reason; nothing partial anywhere.
        var syncedRows = 0, failedRows = 0
        let roots = ["flaky": "\(dir.path)/flaky", "backup": "\(dir.path)/backup", "ws-dl": "\(dir.path)/ws-dl"]
        for rep in representations {
            let states = try await catalog.states(ofRepresentation: rep.representation.id)
            for file in rep.files {
                for (site, root) in roots {
                    guard let state = states.first(where: { $0.fileID == file.id && $0.site == site }) else {
                        Issue.record("no row for \(file.path) on \(site)")
                        continue
                    }
                    let path = RootlessPath.join(root, RootlessPath.split(file.path)!.relative)
                    switch state.status {
                    case .synced:
                        syncedRows += 1
                        #expect(try LocalFiles.digest(of: path) == ContentDigest(size: file.size, sha256: file.sha256),
                                "\(path) is marked synced but its bytes differ")
                    case .failed:
                        failedRows += 1
                        #expect(state.lastError != nil, "\(file.path) on \(site) failed without a reason")
                    case .corrupt, .missing:
                        // Marked by a read that went wrong; the bytes are the catalog's (verify restores it below).
                        #expect(state.problem != nil)
                    default:
                        Issue.record("\(file.path) on \(site) ended \(state.status.rawValue): \(state.lastError ?? "")")
                    }
                    if state.status != .synced, let digest = try? LocalFiles.digest(of: path) {
                        #expect(digest == ContentDigest(size: file.size, sha256: file.sha256), "a wrong file sits under \(path)")
                    }
                }
            }
        }
        for root in roots.values {
            #expect(filesBelow(root, where: LocalFiles.isTemporary).isEmpty, "partial files left under \(root)")
        }
        #expect(syncedRows + failedRows > 0)
        #expect(try await synced(on: "ws-dl") + failedRows >= Self.files, "every download synced or failed with a reason")

        // Copies marked corrupt by a damaged read are really fine: verify (without faults) restores them.
        let check = try await dl.verify(.init(site: "backup"))
        #expect(check.clean && check.checked >= Self.files - failedRows, "\(check.missing) \(check.corrupt)")
    }
}
