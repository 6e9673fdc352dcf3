import Foundation
@testable import SiteSyncExternal
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("External providers: the template provider (Python) through the provider protocol")
struct ExternalProviderTests {
    @Test("conformance of the template provider", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let dir = try TemporaryDirectory("ext")
        let base = try dir.sub("storage")
        let site = try ExternalFixtures.folderSite(base: base)
        let fixture = ProviderFixture(root: "/site", scratch: try dir.sub("scratch")) { limit in
            var config = site
            config.bandwidthLimit = limit
            return try ExternalProvider(site: config, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
    }

    @Test("check names the program, what it declared, how uploads are proved, and each root")
    func checkReport() async throws {
        let dir = try TemporaryDirectory("ext")
        let p = try ExternalProvider(site: try ExternalFixtures.folderSite(base: try dir.sub("storage")), platform: .current)
        let lines = try await p.check()
        let text = lines.joined(separator: "\n")
        #expect(text.contains("provider folder-template 1.0"), "\(text)")
        #expect(text.contains("no storage hash, resumable downloads, folders"), "\(text)")
        #expect(text.contains("uploads proved by: readback"), "\(text)")
        #expect(text.contains("root work: /site (exists; put, proof, move and delete work)"), "\(text)")
        #expect(filesBelow(dir.path + "/storage").isEmpty, "the probe is removed")
    }

    @Test("a missing root is refused and never created")
    func missingRoot() async throws {
        let dir = try TemporaryDirectory("ext")
        let base = try dir.sub("storage")
        var site = try ExternalFixtures.folderSite(base: base)
        site.roots = ["work": RootPath("/not-there")]
        let p = try ExternalProvider(site: site, platform: .current)
        let src = try dir.file("a.bin", size: 100, seed: 1)
        let d = try LocalFiles.digest(of: src)
        await #expect(throws: ProviderError.self) { try await p.check() }
        do {
            try await p.upload(localFile: src, to: "/not-there/x/a.bin", expected: d, progress: { _ in })
            Issue.record("an upload into a missing root must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .unavailable && e.message.contains("never creates a site root"), "\(e)")
        }
        #expect(!FileManager.default.fileExists(atPath: base + "/not-there"))
    }

    @Test("an interrupted download continues after the bytes kept when the program can")
    func resumedDownload() async throws {
        let dir = try TemporaryDirectory("ext")
        let base = try dir.sub("storage")
        let p = try ExternalProvider(site: try ExternalFixtures.folderSite(base: base), platform: .current)
        let src = try dir.file("big.bin", size: 3 << 20, seed: 4)
        let d = try LocalFiles.digest(of: src)
        try await p.upload(localFile: src, to: "/site/big.bin", expected: d, progress: { _ in })
        // An earlier attempt kept the first MiB.
        let partial = dir.path + "/partial"
        try Data(try Data(contentsOf: URL(fileURLWithPath: src)).prefix(1 << 20)).write(to: URL(fileURLWithPath: partial))
        let first = Counter()
        let digest = try await p.download("/site/big.bin", continuing: partial, progress: { if first.value == 0 { first.set($0) } })
        #expect(digest == d)
        #expect(first.value >= 1 << 20, "progress starts after the kept bytes: \(first.value)")
    }

    @Test("options named like secrets are hidden by settings show")
    func secretsHidden() throws {
        let schema = ExternalSettings.schema
        let shown = ConfigValue.map(["options": .map(["url": .string("http://dav"), "password": .string("hunter2")])])
            .redacted(secretKeys: schema.secretKeys)
        #expect(shown["options"]?["password"] == .string("***"))
        #expect(shown["options"]?["url"] == .string("http://dav"))
    }

    @Test("settings are checked at import: command, timeout, verify_uploads")
    func settingsChecked() throws {
        let validator = SettingsValidator(schemas: [ExternalSettings.schema])
        let yaml = """
            sites:
              dav:
                provider: external
                command: []
                timeout: 0
                roots: {work: /studio}
            """
        let problems = validator.problems(in: try StudioSettings(yaml: yaml, source: "test")).map(\.description).joined(separator: "\n")
        #expect(problems.contains("sites.dav.command: expected a program and its arguments"), "\(problems)")
        #expect(problems.contains("sites.dav.timeout: 0 is out of range: from 1 to 86400"), "\(problems)")
        let mode = """
            sites:
              dav: {provider: external, command: [python3, /opt/dav.py], verify_uploads: sometimes, roots: {work: /studio}}
            """
        let modeProblems = validator.problems(in: try StudioSettings(yaml: mode, source: "test")).map(\.description).joined(separator: "\n")
        #expect(modeProblems.contains("verify_uploads: 'sometimes' is not one of auto, hash, readback, size"), "\(modeProblems)")
    }
}

@Suite("External providers: the WebDAV example (Python) against a real WebDAV server (wsgidav)")
struct WebDAVProviderTests {
    /// A site on the shared server, in a folder of the test's own: returns it and its root.
    static func site(_ server: WebDAVServer, password: String? = nil) throws -> (SiteConfig, String) {
        let root = "/t-\(UUID().uuidString.prefix(8).lowercased())/studio"
        try FileManager.default.createDirectory(atPath: server.root + root, withIntermediateDirectories: true)
        var config = SiteConfig(name: "dav", provider: "external", roots: ["work": RootPath(root)], options: [
            "command": .list([.string(ExternalFixtures.python), .string(ExternalFixtures.webdav)]),
            "options": .map(["url": .string(server.url), "user": .string(server.user), "password": .string(password ?? server.password)]),
        ])
        config.concurrency = 2
        return (config, root)
    }

    @Test("conformance of the WebDAV example", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let server = try await WebDAVServer.shared()
        let dir = try TemporaryDirectory("dav")
        let (site, root) = try Self.site(server)
        let fixture = ProviderFixture(root: root, scratch: try dir.sub("scratch")) { limit in
            var config = site
            config.bandwidthLimit = limit
            return try ExternalProvider(site: config, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
    }

    @Test("a wrong password is a configuration error naming the user, with the password hidden")
    func wrongPassword() async throws {
        let server = try await WebDAVServer.shared()
        let p = try ExternalProvider(site: try Self.site(server, password: "not-the-password").0, platform: .current)
        do {
            _ = try await p.check()
            Issue.record("a wrong password must fail the check")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("refused user 'artist'"), "\(e)")
            #expect(!e.message.contains("not-the-password"), "\(e)")
        }
    }
}

/// A provider written by someone who had read only docs/external-providers.md (a flat key space with MD5 hashes,
/// rows of a SQLite database): the document is the contract, and this keeps it honest.
@Suite("External providers: one written from the protocol document alone (SQLite rows, flat keys, MD5)")
struct ProviderFromDocsTests {
    @Test("conformance", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let dir = try TemporaryDirectory("ext-docs")
        let program = ExternalFixtures.repository + "/Tests/SiteSyncExternalTests/Fixtures/sqlite_provider_from_docs.py"
        let site = SiteConfig(name: "rows", provider: "external", roots: ["work": RootPath("/studio")], options: [
            "command": .list([.string(ExternalFixtures.python), .string(program)]),
            "options": .map(["database": .string(dir.path + "/files.db")]),
        ])
        let fixture = ProviderFixture(root: "/studio", scratch: try dir.sub("scratch")) { limit in
            var config = site
            config.bandwidthLimit = limit
            return try ExternalProvider(site: config, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
    }
}
