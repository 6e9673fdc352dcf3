import Crypto
import Foundation
@testable import SiteSyncS3
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

@Suite("S3 sites in a studio (engine scenarios)")
struct S3ScenarioTests {
    static func cloudSite(_ server: S3Server, bucket: String, prefix: String) -> String {
        """
          cloud:
            provider: s3
            bucket: \(bucket)
            endpoint: \(server.endpoint)
            access_key_id: \(server.accessKey)
            secret_access_key: \(server.secretKey)
            part_size: 5M
            retry_base: 0.05
            roots: {work: /\(prefix)/projects}
        """
    }

    @Test("studio copies every publish to an S3 backup (always_accessible_on); an artist at home pulls from it", arguments: S3Server.Kind.allCases)
    func backupAndPull(_ kind: S3Server.Kind) async throws {
        let server = try await SharedS3.server(kind)
        let bucket = try await SharedS3.bucket(server)
        let prefix = "scenario-\(UUID().uuidString.prefix(8).lowercased())"
        let dir = try TemporaryDirectory("s3-studio")
        let studioRoot = try dir.sub("studio")
        let settings = """
            sites:
            \(Self.cloudSite(server, bucket: bucket, prefix: prefix))
            projects:
              default: {sitesync: {active_site: studio, remote_site: studio, always_accessible_on: [cloud], retry_backoff: 0.2}}
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
        let check = try await studio.checkSite("cloud", project: "robots").joined(separator: "\n")
        #expect(check.contains("list, write and delete OK"), "\(check)")

        // Published at the studio (a 12 MiB plate goes up in parts); the studio's server copies it to S3.
        let files = [try dir.file("src/plate.exr", size: 12 << 20 | 77, seed: 31), try dir.file("src/plate.json", size: 900, seed: 32),
                     try dir.file("src/empty.txt", size: 0, seed: 33)]
        let published = try await studio.publish(RepresentationContext(project: "robots", folder: "shots/sh010", product: "plate",
                                                                        version: 1, name: "exr"), files: files)
        #expect(published.sites["cloud"] == .queued)
        let run = try await SyncServer(engine: studio, options: ServerOptions(once: true)).runUntilIdle()
        #expect(run.failed.isEmpty && run.moved.count == 3 && run.moved.allSatisfy { $0.target == "cloud" }, "\(run.failed)")
        let provider = try S3Provider(site: try await studio.project("robots").site("cloud"), platform: .current, environment: [:])
        for file in published.files {
            let path = "/\(prefix)/projects/" + RootlessPath.split(file.path)!.relative
            #expect(try await provider.storedDigest(path) == ContentDigest(size: file.size, sha256: file.sha256), "\(path)")
        }
        let report = try await studio.verify(SiteSync.VerifyOptions(site: "cloud", project: "robots"))
        #expect(report.clean && report.checked == 3 && report.good == 3, "\(report)")

        // An artist at home works against the S3 site: a download comes from it, verified.
        let anna = try machine("ws-anna")
        _ = try anna.setLocal(project: "robots", roots: [:], activeSite: "local", remoteSite: "cloud")
        _ = try await anna.download(published.representation.id, priority: nil)
        let pull = try await SyncServer(engine: anna, options: ServerOptions(once: true)).runUntilIdle()
        #expect(pull.failed.isEmpty && pull.moved.count == 3 && pull.moved.allSatisfy { $0.source == "cloud" }, "\(pull.failed)")
        for file in published.files {
            let local = RootlessPath.join("\(dir.path)/ws-anna", RootlessPath.split(file.path)!.relative)
            #expect(try LocalFiles.digest(of: local) == ContentDigest(size: file.size, sha256: file.sha256))
        }
    }

    @Test("verify and heal on an S3 site: deleted and overwritten objects found, marked and healed from backup", arguments: S3Server.Kind.allCases)
    func verifyAndHeal(_ kind: S3Server.Kind) async throws {
        let server = try await SharedS3.server(kind)
        let bucket = try await SharedS3.bucket(server)
        let prefix = "verify-\(UUID().uuidString.prefix(8).lowercased())"
        let dir = try TemporaryDirectory("s3-verify")
        let settings = """
            sites:
            \(Self.cloudSite(server, bucket: bucket, prefix: prefix))
              backup: {provider: local_drive, roots: {work: \(try dir.sub("backup"))}}
            projects:
              default: {sitesync: {active_site: local, remote_site: cloud, always_accessible_on: [backup], retry_backoff: 0.1}}
              robots: {roots: {work: \(try dir.sub("studio"))}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        // Damage is done as another program would: plain S3 requests, no SiteSync metadata.
        let raw = S3Client(settings: try S3Settings(site: SharedS3.site(server, bucket: bucket), platform: .current, environment: [:]))
        @Sendable func key(_ rootless: String) -> String { "\(prefix)/projects/" + RootlessPath.split(rootless)!.relative }
        try await VerifyScenario.run(DamageFixture(
            site: "cloud", scratch: try dir.sub("src"), machine: machine,
            delete: { _ = try await raw.send("delete", .DELETE, key: key($0)) },
            corrupt: { path, size in
                let bytes = TemporaryDirectory.bytes(size: Int(size), seed: 999)
                _ = try await raw.send("overwrite", .PUT, key: key(path),
                                       payload: S3Payload(bytes: .init(data: bytes), sha256: LocalFiles.hex(SHA256.hash(data: bytes))))
            },
            digest: { path in
                let r = try await raw.send("read", .GET, key: key(path), accept: [404])
                return r.status == 404 ? nil : ContentDigest(size: Int64(r.body.count), sha256: LocalFiles.hex(SHA256.hash(data: r.body)))
            }))
    }
}
