import Foundation
@testable import SiteSyncRclone
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Synchronization
import Testing

/// The servers behind the rclone remotes, one of each for the whole run: the tests' sshd and a SeaweedFS.
enum RcloneBackends {
    /// Started once, off the cooperative pool; every test awaits the same start.
    static let ssh = Task<SSHServer, any Error> { try await SSHServer.startedForProcess() }

    static func sshServer() async throws -> SSHServer { try await ssh.value }

    /// The rclone program: a missing one fails with the package to install, never a skip.
    static func rclone() throws -> String {
        for p in ["/usr/bin/rclone", "/usr/local/bin/rclone"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        throw TestServerFailure.missing("rclone is missing: run scripts/install-deps.sh test (Debian package rclone)")
    }

    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case local, sftp, s3
        var testDescription: String { rawValue }
    }

    /// A site on `kind` whose root (`root`) exists and is empty, with an rclone config file of its own.
    static func site(_ kind: Kind, dir: TemporaryDirectory) async throws -> (site: SiteConfig, root: String) {
        let rclone = try rclone()
        let config = dir.path + "/rclone.conf"
        var remote: String
        var root: String
        switch kind {
        case .local:
            let base = try dir.sub("storage")
            remote = base
            root = "/site"
            try FileManager.default.createDirectory(atPath: base + root, withIntermediateDirectories: true)
            try "".write(toFile: config, atomically: true, encoding: .utf8)
        case .sftp:
            let server = try await sshServer()
            root = dir.path + "/sftp-root"
            try server.makeRoot(root)
            let keys = try UserKeys.shared()
            try """
                [vendor]
                type = sftp
                host = 127.0.0.1
                port = \(server.port)
                user = \(SSHServer.user)
                key_file = \(keys.files["ed25519"]!)
                known_hosts_file = \(server.knownHosts)
                """.write(toFile: config, atomically: true, encoding: .utf8)
            remote = "vendor:"
        case .s3:
            let server = try await S3Server.shared(.seaweedfs)
            let prefix = "t-\(UUID().uuidString.prefix(8).lowercased())"
            try """
                [cloud]
                type = s3
                provider = Other
                endpoint = \(server.endpoint)
                access_key_id = \(server.accessKey)
                secret_access_key = \(server.secretKey)
                """.write(toFile: config, atomically: true, encoding: .utf8)
            remote = "cloud:"
            root = "/rclone-tests/\(prefix)/root"
        }
        let site = SiteConfig(name: "r-\(kind.rawValue)", provider: "rclone", roots: ["work": RootPath(root)], options: [
            "remote": .string(remote), "config_file": .string(config), "rclone": .string(rclone),
        ])
        if kind == .s3 {
            // The bucket is made once; rclone makes it when asked for it.
            let p = try RcloneProvider(site: site, platform: .current)
            _ = try await p.rc("operations/mkdir", ["fs": .string("cloud:"), "remote": .string("rclone-tests")])
        }
        return (site, root)
    }
}

@Suite("rclone provider over local, SFTP and S3 remotes (one rclone rcd per site)")
struct RcloneProviderTests {
    @Test("conformance", arguments: RcloneBackends.Kind.allCases, ProviderConformance.names)
    func conformance(_ kind: RcloneBackends.Kind, _ name: String) async throws {
        let dir = try TemporaryDirectory("rclone")
        let (site, root) = try await RcloneBackends.site(kind, dir: dir)
        let fixture = ProviderFixture(root: root, scratch: try dir.sub("scratch")) { limit in
            var config = site
            config.bandwidthLimit = limit
            return try RcloneProvider(site: config, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
    }

    @Test("check prints rclone's version, the backend and its hashes, and proves each root", arguments: RcloneBackends.Kind.allCases)
    func check(_ kind: RcloneBackends.Kind) async throws {
        let dir = try TemporaryDirectory("rclone")
        let (site, _) = try await RcloneBackends.site(kind, dir: dir)
        let text = try await RcloneProvider(site: site, platform: .current).check().joined(separator: "\n")
        #expect(text.contains("rclone v1."), "\(text)")
        #expect(text.contains("root work:") && text.contains("write, move and delete work"), "\(text)")
        switch kind {
        case .local: #expect(text.contains("(backend local)") && text.contains("uploads proved by the backend's sha256"), "\(text)")
        case .s3: #expect(text.contains("uploads proved by the backend's md5"), "\(text)")
        case .sftp: #expect(text.contains("backend vendor") || text.contains("sftp"), "\(text)")
        }
    }

    @Test("a remote that holds a password is refused at import: credentials belong in rclone's config file")
    func inlineSecretRefused() throws {
        let problems = RcloneSettings.rules(["remote": .string(":sftp,host=h,user=u,pass=hunter2:")])
        #expect(problems.first?.contains("keep credentials in rclone's config file") == true, "\(problems)")
        #expect(RcloneDaemon.redact("Failed to create file system for \":sftp,host=h,pass=hunter2:\"").contains("hunter2") == false)
    }

    @Test("a missing rclone program is a configuration error naming the package")
    func missingProgram() async throws {
        let site = SiteConfig(name: "r", provider: "rclone", roots: ["work": RootPath("/x")], options: [
            "remote": .string("/tmp"), "rclone": .string("/opt/nowhere/rclone"),
        ])
        do {
            _ = try await RcloneProvider(site: site, platform: .current).check()
            Issue.record("a missing rclone must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("apt install rclone"), "\(e)")
        }
    }

    @Test("a remote rclone's config does not have is a configuration error")
    func unknownRemote() async throws {
        let dir = try TemporaryDirectory("rclone")
        try "".write(toFile: dir.path + "/rclone.conf", atomically: true, encoding: .utf8)
        let site = SiteConfig(name: "r", provider: "rclone", roots: ["work": RootPath("/x")], options: [
            "remote": .string("nosuch:"), "config_file": .string(dir.path + "/rclone.conf"), "rclone": .string(try RcloneBackends.rclone()),
        ])
        do {
            _ = try await RcloneProvider(site: site, platform: .current).check()
            Issue.record("an unknown remote must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration, "\(e)")
        }
    }

    @Test("a killed rclone rcd is restarted and the next operation works")
    func daemonRestarted() async throws {
        let dir = try TemporaryDirectory("rclone")
        let (site, root) = try await RcloneBackends.site(.local, dir: dir)
        let p = try RcloneProvider(site: site, platform: .current)
        #expect(try await p.stat(root + "/none") == nil)
        let instance = try await p.daemon.endpoint().instance
        instance.kill()
        try await eventually("rcd to end") { instance.ended }
        #expect(try await p.stat(root + "/none") == nil)
    }
}
