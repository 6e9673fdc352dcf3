import Foundation
import SiteSyncModel
import SiteSyncProviders
@testable import SiteSyncSFTP
import SiteSyncTestSupport
import Testing

/// One sshd for the whole suite (sessions are independent; each test uses its own folder).
enum Shared {
    /// Started once, off the cooperative pool; every test awaits the same start.
    static let starting = Task<SSHServer, any Error> { try await SSHServer.startedForProcess() }

    static func server() async throws -> SSHServer { try await starting.value }
}

func sftpSite(_ server: SSHServer, root: String, name: String = "vendor", auth: [String: ConfigValue]? = nil,
              hostKey: [String: ConfigValue]? = nil, extra: [String: ConfigValue] = [:]) throws -> SiteConfig {
    let keys = try UserKeys.shared()
    var options: [String: ConfigValue] = [
        "provider": .string("sftp"), "host": .string("127.0.0.1"), "port": .int(server.port),
        "user": .string(SSHServer.user),
    ]
    options.merge(auth ?? ["key_file": .string(keys.files["ed25519"]!)]) { $1 }
    options.merge(hostKey ?? ["known_hosts": .string(server.knownHosts)]) { $1 }
    options.merge(extra) { $1 }
    let value = ConfigValue.map(options.merging(["roots": .map(["work": .string(root)])]) { $1 })
    let studio = StudioSettings(document: .map(["sites": .map([name: value])]))
    return try SettingsContext(studio: studio, local: LocalSettings(), siteID: "ws-test").project("p").site(name)
}

@Suite("SFTP provider against a real OpenSSH server")
struct SFTPProviderTests {
    @Test("conformance", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let fixture = ProviderFixture(root: root, scratch: try dir.sub("scratch")) { limit in
            var site = try sftpSite(server, root: root)
            site.bandwidthLimit = limit
            return try SFTPProvider(site: site, platform: .current)
        }
        try await ProviderConformance.run(name, fixture)
        // A cancelled large upload keeps its temporary file to resume from; nothing else may leave one.
        if !name.contains("cancelled") {
            #expect(filesBelow(root, where: { $0.hasSuffix(".sitesync.part") }).isEmpty)
        }
    }

    @Test("every authentication method", arguments: ["password", "ed25519", "ed25519_pass", "ecdsa", "rsa_pem", "rsa_openssh_pass"])
    func authentication(_ method: String) async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftp")
        try server.makeRoot("\(dir.path)/root")
        let keys = try UserKeys.shared()
        let auth: [String: ConfigValue]
        switch method {
        case "password": auth = ["password": .string(SSHServer.password)]
        case let name where name.hasSuffix("_pass"):
            auth = ["key_file": .string(keys.files[name]!), "key_passphrase": .string(UserKeys.passphrase)]
        default: auth = ["key_file": .string(keys.files[method]!)]
        }
        let provider = try SFTPProvider(site: try sftpSite(server, root: "\(dir.path)/root", auth: auth), platform: .current)
        let lines = try await provider.check()
        #expect(lines.contains { $0.contains(server.fingerprint) })
        #expect(lines.contains { $0.contains("exists, writable") })
        // The round trip it measured, and what it makes of it (how many connections depends on this machine's
        // load: `streamsFollowTheRoundTrip` checks the rule).
        #expect(lines.contains { $0.hasPrefix("round trip ") && $0.contains(" connection(s), down over ") && $0.hasSuffix("(streams: 8 at most)") },
                "\(lines)")
    }

    func failure(_ site: SiteConfig) async -> ProviderError? {
        do {
            _ = try await SFTPProvider(site: site, platform: .current).check()
            return nil
        } catch let error as ProviderError {
            return error
        } catch {
            return ProviderError(.transient, "\(error)")
        }
    }

    @Test("wrong password, wrong passphrase, a PuTTY key: clear errors that never show the secret")
    func authErrors() async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let keys = try UserKeys.shared()
        let wrongPassword = await failure(try sftpSite(server, root: root, auth: ["password": .string("not-the-password")]))
        #expect(wrongPassword?.message.contains("refused the password") == true)
        #expect(wrongPassword?.message.contains("not-the-password") == false)
        let wrongPassphrase = await failure(try sftpSite(server, root: root, auth: [
            "key_file": .string(keys.files["ed25519_pass"]!), "key_passphrase": .string("nope-nope")]))
        #expect(wrongPassphrase?.message.contains("key_passphrase may be wrong") == true)
        #expect(wrongPassphrase?.message.contains("nope-nope") == false)
        let noPassphrase = await failure(try sftpSite(server, root: root, auth: ["key_file": .string(keys.files["rsa_openssh_pass"]!)]))
        #expect(noPassphrase?.message.contains("may need a key_passphrase") == true)
        let ppk = try dir.file("key.ppk", size: 0)
        try "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n".write(toFile: ppk, atomically: true, encoding: .utf8)
        let putty = await failure(try sftpSite(server, root: root, auth: ["key_file": .string(ppk)]))
        #expect(putty?.message.contains("puttygen") == true && putty?.message.contains("private-openssh") == true)
        let missing = await failure(try sftpSite(server, root: root, auth: ["key_file": .string("/no/such/key")]))
        #expect(missing?.message.contains("cannot read /no/such/key") == true)
    }

    @Test("password and key together, or neither, are configuration errors")
    func configErrors() async throws {
        let server = try await Shared.server()
        let keys = try UserKeys.shared()
        #expect(throws: ProviderError.self) {
            try SFTPProvider(site: try sftpSite(server, root: "/tmp", auth: [
                "password": .string("x"), "key_file": .string(keys.files["ed25519"]!)]), platform: .current)
        }
        do {
            _ = try SFTPProvider(site: try sftpSite(server, root: "/tmp", auth: ["password": .string("x"),
                                                                              "key_file": .string("/k")]), platform: .current)
        } catch {
            #expect("\(error)".contains("not both"))
        }
        do {
            _ = try SFTPProvider(site: try sftpSite(server, root: "/tmp", auth: ["user": .string(SSHServer.user)]), platform: .current)
            Issue.record("a site without password or key must be refused")
        } catch {
            #expect("\(error)".contains("key_file") && "\(error)".contains("password"))
        }
        #expect(throws: ProviderError.self) {
            try SFTPProvider(site: try sftpSite(server, root: "relative/path"), platform: .current)
        }
    }

    @Test("host keys: unknown is refused with the fingerprint and the setting; a changed key is refused loudly")
    func hostKeys() async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        // Unknown: an empty known_hosts file.
        let empty = try dir.file("empty_known_hosts", size: 0)
        let unknown = await failure(try sftpSite(server, root: root, hostKey: ["known_hosts": .string(empty)]))
        #expect(unknown?.message.contains("is not known") == true)
        #expect(unknown?.message.contains("host_key_fingerprint: \"\(server.fingerprint)\"") == true)
        // Changed: known_hosts names another key for this host and port.
        let other = try SSHServer.shell("/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "\(dir.path)/other")
        _ = other
        let otherPub = try String(contentsOfFile: "\(dir.path)/other.pub", encoding: .utf8).split(separator: " ")
        try "[127.0.0.1]:\(server.port) \(otherPub[0]) \(otherPub[1])\n".write(toFile: "\(dir.path)/changed", atomically: true, encoding: .utf8)
        let changed = await failure(try sftpSite(server, root: root, hostKey: ["known_hosts": .string("\(dir.path)/changed")]))
        #expect(changed?.message.contains("HOST KEY MISMATCH") == true)
        // Pinned fingerprint: right one works, wrong one is a mismatch.
        let pinned = try SFTPProvider(site: try sftpSite(server, root: root, hostKey: ["host_key_fingerprint": .string(server.fingerprint)]),
                                      platform: .current)
        #expect(try await pinned.check().contains { $0.contains("pinned host_key_fingerprint") })
        let wrong = await failure(try sftpSite(server, root: root, hostKey: [
            "host_key_fingerprint": .string("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]))
        #expect(wrong?.message.contains("HOST KEY MISMATCH") == true)
    }

    @Test("connections are pooled and reused across files")
    func pooling() async throws {
        let server = try await SSHServer.started()  // its own: the log counts this test's connections only
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let provider = try SFTPProvider(site: try sftpSite(server, root: root), platform: .current)
        let before = try String(contentsOfFile: "\(server.dir)/sshd.log", encoding: .utf8).components(separatedBy: "Accepted").count
        for i in 0..<30 {
            let file = try dir.file("s/\(i).txt", size: 100 + i, seed: UInt64(i))
            try await provider.upload(localFile: file, to: "\(root)/many/\(i).txt", expected: try LocalFiles.digest(of: file), progress: { _ in })
        }
        let after = try String(contentsOfFile: "\(server.dir)/sshd.log", encoding: .utf8).components(separatedBy: "Accepted").count
        #expect(after - before <= 1, "30 sequential uploads opened \(after - before) connections")
    }

    @Test("a folder deleted behind a pooled connection's back is created again; a root gone since is reported, never created")
    func knownFolderGone() async throws {
        let server = try await Shared.server()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let provider = try SFTPProvider(site: try sftpSite(server, root: root), platform: .current)
        func put(_ name: String) async throws -> WriteReport {
            let file = try dir.file("s/\(name)", size: 3000, seed: UInt64(name.count))
            return try await provider.upload(localFile: file, to: "\(root)/shot/v001/\(name)", expected: try LocalFiles.digest(of: file), progress: { _ in })
        }
        _ = try await put("a.exr")
        // The pooled connection now knows shot/v001; someone removes it on the server.
        try FileManager.default.removeItem(atPath: "\(root)/shot")
        _ = try await put("b.exr")
        #expect(FileManager.default.fileExists(atPath: "\(root)/shot/v001/b.exr"))
        // The share behind the root goes away: the upload fails clearly and creates nothing.
        try FileManager.default.removeItem(atPath: root)
        do {
            _ = try await put("c.exr")
            Issue.record("an upload into a vanished root must fail")
        } catch let error as ProviderError {
            #expect(error.kind == .unavailable, "\(error)")
            #expect(error.message.contains("never creates a site root"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: root), "the root must not be created")
    }

    @Test("a large file is spread over as many connections as the round trip needs: two nearby, the site's most over a long link")
    func streamsFollowTheRoundTrip() {
        // Loopback and a LAN: two, one per end's core.
        #expect(SFTPProvider.streams(roundTrip: 0.000_2, requestsInFlight: 1, atMost: 8) == 2)
        #expect(SFTPProvider.streams(roundTrip: 0.000_2, requestsInFlight: SFTPProvider.chunksPerStream, atMost: 8) == 2)
        // 1 ms: uploads (one write answered per round trip) need more than downloads (four reads in flight).
        #expect(SFTPProvider.streams(roundTrip: 0.001, requestsInFlight: 1, atMost: 8) == 5)
        #expect(SFTPProvider.streams(roundTrip: 0.001, requestsInFlight: SFTPProvider.chunksPerStream, atMost: 8) == 2)
        // 50 ms: everything the site allows, and never more.
        #expect(SFTPProvider.streams(roundTrip: 0.05, requestsInFlight: 1, atMost: 8) == 8)
        #expect(SFTPProvider.streams(roundTrip: 0.05, requestsInFlight: SFTPProvider.chunksPerStream, atMost: 16) == 16)
        // `streams: 1` is one; a site whose round trip could not be measured gets its setting.
        #expect(SFTPProvider.streams(roundTrip: 0.05, requestsInFlight: 1, atMost: 1) == 1)
        #expect(SFTPProvider.streams(roundTrip: nil, requestsInFlight: 1, atMost: 6) == 6)
    }

    @Test("a large file goes up and comes down over several connections, verified, continuing after a kept prefix, no temporary left")
    func streamedUpload() async throws {
        let server = try await SSHServer.started()  // its own: the log counts this test's connections only
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let provider = try SFTPProvider(site: try sftpSite(server, root: root, extra: ["streams": .int(3)]), platform: .current)
        let source = try dir.file("plate.exr", size: Int(SFTPProvider.streamedSize) + 123_457, seed: 11)
        let digest = try LocalFiles.digest(of: source)
        let before = try String(contentsOfFile: "\(server.dir)/sshd.log", encoding: .utf8).components(separatedBy: "Accepted").count
        let last = Counter()
        let report = try await provider.upload(localFile: source, to: "\(root)/shots/plate.exr", expected: digest, progress: { last.set($0) })
        let after = try String(contentsOfFile: "\(server.dir)/sshd.log", encoding: .utf8).components(separatedBy: "Accepted").count
        #expect(report.digest == digest && !report.adopted)
        #expect(try LocalFiles.digest(of: "\(root)/shots/plate.exr") == digest)
        #expect(last.value == digest.size)
        // Loopback answers in well under a millisecond: two connections, not the three the site allows.
        #expect(after - before >= 2, "spread over \(after - before) connection(s)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/shots") == ["plate.exr"])

        // Downloads too: read over several connections, put in order, every byte hashed.
        let local = "\(dir.path)/down/plate.exr"
        try FileManager.default.createDirectory(atPath: "\(dir.path)/down", withIntermediateDirectories: true)
        #expect(try await provider.download("\(root)/shots/plate.exr", to: local, progress: { _ in }) == digest)
        #expect(try LocalFiles.digest(of: local) == digest)
        // An earlier attempt's prefix is kept and continued after.
        let prefix = try FileHandle(forReadingFrom: URL(fileURLWithPath: source)).read(upToCount: 5_000_000) ?? Data()
        try prefix.write(to: URL(fileURLWithPath: local))
        let first = Counter()
        first.set(-1)
        #expect(try await provider.download("\(root)/shots/plate.exr", continuing: local, progress: { done in
            if first.value < 0 { first.set(done) }
        }) == digest)
        #expect(first.value == 5_000_000)
        #expect(try LocalFiles.digest(of: local) == digest)

        // Bytes that do not match the catalog are never placed, and their temporary file goes.
        let wrong = ContentDigest(size: digest.size, sha256: String(repeating: "0", count: 64))
        await #expect(throws: ProviderError.self) {
            try await provider.upload(localFile: source, to: "\(root)/shots/other.exr", expected: wrong, progress: { _ in })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/shots") == ["plate.exr"])

        // A missing source is the catalog's mistake about it, said as such.
        do {
            try await provider.upload(localFile: "\(dir.path)/gone.exr", to: "\(root)/shots/gone.exr", expected: digest, progress: { _ in })
            Issue.record("a missing source cannot upload")
        } catch let e as ProviderError {
            #expect(e.kind == .sourceMissing, "\(e)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/shots") == ["plate.exr"])

        #expect(throws: ProviderError.self) {
            try SFTPProvider(site: try sftpSite(server, root: root, extra: ["streams": .int(0)]), platform: .current)
        }
    }
}

/// Tests that stop and restart sshd get their own server.
@Suite("SFTP: a server that dies mid-transfer", .serialized)
struct SFTPRestartTests {
    @Test("killed mid-upload, then restarted: the upload resumes and ends verified, nothing partial under its name")
    func resumeAfterKill() async throws {
        let server = try await SSHServer.started()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        var site = try sftpSite(server, root: root)
        site.bandwidthLimit = 16 << 20
        let provider = try SFTPProvider(site: site, platform: .current)
        let source = try dir.file("big.bin", size: 24 << 20, seed: 77)
        let digest = try LocalFiles.digest(of: source)
        let target = "\(root)/shots/big.bin"
        let temporary = "\(root)/shots/.big.bin.sitesync.part"
        // The server dies once 4 MiB are on it, killed from the upload's own progress report (a poll from the test
        // could run late on a loaded machine, after the whole file went).
        let killed = Counter()
        let upload = Task {
            try await provider.upload(localFile: source, to: target, expected: digest, progress: { done in
                if done > 4 << 20 && killed.value == 0 { killed.set(1); server.kill() }
            })
        }
        let result = await upload.result
        if case .success = result { Issue.record("the upload cannot have succeeded with the server killed") }
        #expect(!FileManager.default.fileExists(atPath: target), "nothing under the final name")
        let kept = LocalFiles.fileSize(temporary) ?? 0
        #expect(kept > 4 << 20, "the partial upload is kept to resume from")
        try await server.restart()
        let first = Counter()
        first.set(-1)
        try await provider.upload(localFile: source, to: target, expected: digest, progress: { done in
            if first.value < 0 { first.set(done) }
        })
        #expect(try LocalFiles.digest(of: target) == digest)
        #expect(!FileManager.default.fileExists(atPath: temporary))
        // It resumed: the first progress report is what the server already had, not the first chunk.
        #expect(first.value == kept, "first progress \(first.value), kept \(kept)")
    }

    @Test("killed mid-download, then restarted: the download continues after the bytes it kept and ends verified")
    func downloadResumesAfterKill() async throws {
        let server = try await SSHServer.started()
        let dir = try TemporaryDirectory("sftp")
        let root = "\(dir.path)/root"
        try server.makeRoot(root)
        let remote = try dir.file("root/big.bin", size: 24 << 20, seed: 78)
        try SSHServer.shell("/bin/chown", SSHServer.user, remote)
        let digest = try LocalFiles.digest(of: remote)
        var site = try sftpSite(server, root: root)
        site.bandwidthLimit = 8 << 20
        let provider = try SFTPProvider(site: site, platform: .current)
        let local = "\(dir.path)/partial.bin"
        // Killed from the download's own progress report once 6 MiB are written (see the upload test).
        let killed = Counter()
        let download = Task {
            try await provider.download(remote, continuing: local, progress: { done in
                if done > 6 << 20 && killed.value == 0 { killed.set(1); server.kill() }
            })
        }
        let result = await download.result
        if case .success = result { Issue.record("the download cannot have succeeded with the server killed") }
        let kept = LocalFiles.fileSize(local) ?? 0
        #expect(kept > 6 << 20)
        try await server.restart()
        let first = Counter()
        first.set(-1)
        let got = try await provider.download(remote, continuing: local, progress: { done in
            if first.value < 0 { first.set(done) }
        })
        #expect(got == digest)
        #expect(try LocalFiles.digest(of: local) == digest)
        #expect(first.value == kept, "first progress \(first.value), kept \(kept)")
    }
}
