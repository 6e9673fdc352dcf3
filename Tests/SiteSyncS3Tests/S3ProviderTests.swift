import Foundation
@testable import SiteSyncS3
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("S3 provider on real S3 servers (SeaweedFS, moto)")
struct S3ProviderTests {
    static let kinds = S3Server.Kind.allCases

    /// A test's place on a server: the shared bucket, a key prefix of its own (the site's root is `/<prefix>/root`).
    struct Setup {
        let server: S3Server
        let bucket: String
        let prefix = "t-\(UUID().uuidString.prefix(8).lowercased())"
        let dir: TemporaryDirectory
        var root: String { "/\(prefix)/root" }
        func site(_ extra: [String: ConfigValue] = [:]) -> SiteConfig {
            SharedS3.site(server, bucket: bucket, root: root, options: extra)
        }
        func openUploads() async throws -> Int { try await SharedS3.openUploads(server, bucket: bucket, prefix: prefix) }
        /// A path under the site's root.
        func path(_ relative: String) -> String { root + "/" + relative }
        func provider(_ extra: [String: ConfigValue] = [:], limit: Int64? = nil) throws -> S3Provider {
            var config = site(extra)
            config.bandwidthLimit = limit
            return try S3Provider(site: config, platform: .current, environment: [:])
        }
    }

    static func setUp(_ kind: S3Server.Kind) async throws -> Setup {
        let server = try await SharedS3.server(kind)
        return Setup(server: server, bucket: try await SharedS3.bucket(server), dir: try TemporaryDirectory("s3"))
    }

    @Test("conformance", arguments: kinds, ProviderConformance.names)
    func conformance(_ kind: S3Server.Kind, _ name: String) async throws {
        let s = try await Self.setUp(kind)
        let sessions = try s.dir.sub("sessions")
        let fixture = ProviderFixture(root: s.root, scratch: try s.dir.sub("scratch"), capabilities: S3Provider.description.capabilities) { limit in
            // As after `site check` on these servers: a new small file is written without looking first (the
            // other suite runs the look-first way).
            let p = try s.provider(["session_dir": .string(sessions)], limit: limit)
            p.conditionalWrites.learn(.honoured)
            return p
        }
        try await ProviderConformance.run(name, fixture)
        #expect(try await s.openUploads() == 0)
    }

    @Test("conformance with multipart uploads and parallel ranged downloads (5 MiB parts)", arguments: kinds, ProviderConformance.names)
    func conformanceMultipart(_ kind: S3Server.Kind, _ name: String) async throws {
        let s = try await Self.setUp(kind)
        let sessions = try s.dir.sub("sessions")
        let fixture = ProviderFixture(root: s.root, scratch: try s.dir.sub("scratch"), capabilities: S3Provider.description.capabilities) { limit in
            // Parts of 5 MiB and a 3 MiB+ file in the suite: small cases go in one request, the rest in parts.
            try s.provider(["session_dir": .string(sessions), "part_size": .string("5M"), "part_concurrency": .int(3)], limit: limit)
        }
        try await ProviderConformance.run(name, fixture)
    }

    @Test("a large file goes up in parallel parts and down in parallel ranges; S3 holds its SHA-256", arguments: kinds)
    func largeFile(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let p = try s.provider(["part_size": .string("5M"), "part_concurrency": .int(4), "session_dir": .string(try s.dir.sub("sessions"))])
        let src = try s.dir.file("big.bin", size: 23 << 20 | 4321, seed: 21)
        let digest = try LocalFiles.digest(of: src)
        let report = try await p.upload(localFile: src, to: s.path("plates/big.bin"), expected: digest, progress: { _ in })
        #expect(!report.adopted && report.movedAside == nil)
        #expect(try await p.storedDigest(s.path("plates/big.bin")) == digest)
        #expect(try await p.stat(s.path("plates/big.bin"))?.size == digest.size)
        let local = try s.dir.sub("dl") + "/big.bin"
        let got = try await p.download(s.path("plates/big.bin"), to: local, progress: { _ in })
        #expect(got == digest)
        #expect(try LocalFiles.digest(of: local) == digest)
        #expect(p.bytesSent == digest.size, "each part sent once")
        // Continuing after a kept prefix reads only the rest, and the digest still covers every byte.
        let partial = try s.dir.sub("dl") + "/partial.bin"
        try Data(try Data(contentsOf: URL(fileURLWithPath: src)).prefix(7 << 20)).write(to: URL(fileURLWithPath: partial))
        let resumed = try await p.download(s.path("plates/big.bin"), continuing: partial, progress: { _ in })
        #expect(resumed == digest)
        #expect(try LocalFiles.digest(of: partial) == digest)
        #expect(try await s.openUploads() == 0)
    }

    @Test("a server-side copy of a multipart object is proven by S3's checksum of the copy, without reading it back", arguments: kinds)
    func multipartCopy(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let p = try s.provider(["part_size": .string("5M"), "session_dir": .string(try s.dir.sub("sessions"))])
        let src = try s.dir.file("plate.exr", size: 12 << 20, seed: 5)
        let digest = try LocalFiles.digest(of: src)
        _ = try await p.upload(localFile: src, to: s.path("v001/plate.exr"), expected: digest, progress: { _ in })
        let made = try await p.copy(s.path("v001/plate.exr"), to: s.path("v002/plate.exr"), expected: digest)
        #expect(!made.adopted)
        // moto (like AWS) computes the copy's SHA-256 when asked; SeaweedFS keeps no checksums, so there the copy
        // is read back once — the fallback any such server gets.
        #expect(p.readBack.value == (kind == .moto ? 0 : digest.size), "\(kind): \(p.readBack.value) bytes read back")
        #expect(try await p.storedDigest(s.path("v002/plate.exr")) == digest)
        let local = s.dir.path + "/back.exr"
        _ = try await p.download(s.path("v002/plate.exr"), to: local, progress: { _ in })
        #expect(try LocalFiles.digest(of: local) == digest)
    }

    @Test("a multipart upload cut mid-way continues with the parts S3 has: fewer bytes sent again", arguments: kinds)
    func resumedUpload(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let sessions = try s.dir.sub("sessions")
        let options: [String: ConfigValue] = ["part_size": .string("5M"), "part_concurrency": .int(2), "session_dir": .string(sessions)]
        let src = try s.dir.file("cut.bin", size: 40 << 20, seed: 22)
        let digest = try LocalFiles.digest(of: src)
        // 40 MiB at 16 MiB/s, stopped once more than 20 MiB went out: a crash, as far as S3 can tell.
        let first = try s.provider(options, limit: 16 << 20)
        let halfway = Flag()
        let task = Task {
            try await first.upload(localFile: src, to: s.path("cut.bin"), expected: digest, progress: { if $0 > 20 << 20 { halfway.set() } })
        }
        try await eventually("half of the upload to go out", timeout: 120) { halfway.isSet }
        task.cancel()
        _ = await task.result
        #expect(try await first.stat(s.path("cut.bin")) == nil, "nothing under the key before the upload completes")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: sessions)).isEmpty, "the upload id is kept to resume")

        // A new provider (a new process) continues: only the parts S3 lacks are sent.
        let second = try s.provider(options)
        try await second.upload(localFile: src, to: s.path("cut.bin"), expected: digest, progress: { _ in })
        #expect(second.bytesSent < digest.size - (10 << 20), "sent \(second.bytesSent) of \(digest.size) bytes again")
        #expect(try await second.storedDigest(s.path("cut.bin")) == digest)
        let local = try s.dir.sub("dl") + "/cut.bin"
        #expect(try await second.download(s.path("cut.bin"), to: local, progress: { _ in }) == digest)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sessions).isEmpty, "the finished upload is forgotten")
        #expect(try await s.openUploads() == 0)
    }

    @Test("a multipart upload whose file does not match the catalog is aborted: no parts left behind", arguments: kinds)
    func abortedUpload(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let p = try s.provider(["part_size": .string("5M"), "session_dir": .string(try s.dir.sub("sessions"))])
        let src = try s.dir.file("bad.bin", size: 12 << 20, seed: 23)
        let digest = try LocalFiles.digest(of: src)
        await #expect(throws: ProviderError(.sourceCorrupt, "")) {
            do {
                try await p.upload(localFile: src, to: s.path("bad.bin"), expected: ContentDigest(size: digest.size, sha256: String(repeating: "0", count: 64)), progress: { _ in })
            } catch let e as ProviderError { throw ProviderError(e.kind, "") }
        }
        #expect(try await p.stat(s.path("bad.bin")) == nil)
        #expect(try await s.openUploads() == 0)
    }

    @Test("keys are encoded by S3's rules: +, %, spaces, unicode and deep folders", arguments: kinds)
    func keyEncoding(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let p = try s.provider()
        for name in ["a+b=c&d.exr", "100% done (final).ma", "tab\tand ~tilde.txt", "日本語/ファイル.png", "semi;colon,comma@at.abc"] {
            let src = try s.dir.file("src-\(name.hashValue)", size: 999, seed: 24)
            let d = try LocalFiles.digest(of: src)
            let path = s.path("enc/\(name)")
            try await p.upload(localFile: src, to: path, expected: d, progress: { _ in })
            #expect(try await p.stat(path)?.size == 999, "\(name)")
            #expect(try await p.storedDigest(path) == d, "\(name)")
            try await p.delete(path, pruneUpTo: s.root)
            #expect(try await p.stat(path) == nil, "\(name)")
        }
    }

    @Test("an object another program wrote is adopted only if its bytes match, else moved aside, never lost", arguments: kinds)
    func foreignObjects(_ kind: S3Server.Kind) async throws {
        for proven in [false, true] {
            try await foreignObjects(kind, conditionalWritesProven: proven)
        }
    }

    func foreignObjects(_ kind: S3Server.Kind, conditionalWritesProven: Bool) async throws {
        let s = try await Self.setUp(kind)
        let p = try s.provider()
        if conditionalWritesProven { p.conditionalWrites.learn(.honoured) }
        let src = try s.dir.file("f.bin", size: 5000, seed: 25)
        let d = try LocalFiles.digest(of: src)
        try await SharedS3.putForeign(s.server, bucket: s.bucket, key: "\(s.prefix)/root/same.bin", try Data(contentsOf: URL(fileURLWithPath: src)))
        #expect(try await p.upload(localFile: src, to: s.path("same.bin"), expected: d, progress: { _ in }).adopted)
        try await SharedS3.putForeign(s.server, bucket: s.bucket, key: "\(s.prefix)/root/other.bin", Data(repeating: 7, count: 5000))
        let report = try await p.upload(localFile: src, to: s.path("other.bin"), expected: d, progress: { _ in })
        let aside = try #require(report.movedAside)
        #expect(try await p.stat(aside)?.size == 5000)
        let local = try s.dir.sub("dl") + "/aside"
        _ = try await p.download(aside, to: local, progress: { _ in })
        #expect(try Data(contentsOf: URL(fileURLWithPath: local)) == Data(repeating: 7, count: 5000))
        #expect(try await p.storedDigest(s.path("other.bin")) == d)
    }

    @Test("site check names the bucket, endpoint and identity, and proves writing", arguments: kinds)
    func check(_ kind: S3Server.Kind) async throws {
        let s = try await Self.setUp(kind)
        let lines = try await s.provider().check()
        let text = lines.joined(separator: "\n")
        #expect(text.contains("bucket \(s.bucket) at \(s.server.endpoint)") && text.contains("path-style"), "\(text)")
        #expect(text.contains("identity: access key site…test from site settings"), "\(text)")
        #expect(text.contains("root work: s3://\(s.bucket)\(s.root)/ — list, write and delete OK"), "\(text)")
        #expect(!text.contains(s.server.secretKey))
        #expect(text.contains("conditional writes (If-None-Match) honoured"), "\(text)")
    }

    @Test("a bucket that does not exist is a configuration error naming the key", arguments: kinds)
    func missingBucket(_ kind: S3Server.Kind) async throws {
        let server = try await SharedS3.server(kind)
        let p = try S3Provider(site: SharedS3.site(server, bucket: "no-such-bucket-here"), platform: .current, environment: [:])
        do {
            _ = try await p.check()
            Issue.record("a missing bucket must fail the check")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("no-such-bucket-here") && e.message.contains("bucket"), "\(e)")
        }
    }

    @Test("an archived object (GLACIER) is a configuration error naming the storage class, not the credentials")
    func archivedObject() async throws {
        // moto keeps GLACIER objects unreadable until restored, as AWS does; SeaweedFS has no archive classes.
        let s = try await Self.setUp(.moto)
        let p = try s.provider(["storage_class": .string("GLACIER")])
        let src = try s.dir.file("cold.bin", size: 10_000)
        let digest = try LocalFiles.digest(of: src)
        _ = try await p.upload(localFile: src, to: s.path("cold.bin"), expected: digest, progress: { _ in })
        do {
            _ = try await p.download(s.path("cold.bin"), to: s.dir.path + "/back.bin", progress: { _ in })
            Issue.record("an archived object was read")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("archived") && e.message.contains("sites.cloud.storage_class")
                    && !e.message.contains("secret"), "\(e)")
        }
    }

    @Test("a wrong secret is a configuration error that names the key and never shows the secret")
    func wrongSecret() async throws {
        let s = try await Self.setUp(.seaweedfs)
        let p = try s.provider(["secret_access_key": .string("definitely-wrong-secret")])
        for attempt in [{ _ = try await p.check() }, { _ = try await p.stat(s.path("x")) }] as [@Sendable () async throws -> Void] {
            do {
                try await attempt()
                Issue.record("a wrong secret must be refused")
            } catch let e as ProviderError {
                #expect(e.kind == .configuration && e.message.contains("secret_access_key"), "\(e)")
                #expect(!e.message.contains("definitely-wrong-secret"))
            }
        }
    }

    @Test("a key that may only read passes the site check and serves downloads; writing says why it fails")
    func readOnlyKey() async throws {
        let s = try await Self.setUp(.seaweedfs)
        let writer = try s.provider()
        let src = try s.dir.file("r.bin", size: 3000, seed: 27)
        let d = try LocalFiles.digest(of: src)
        try await writer.upload(localFile: src, to: s.path("r.bin"), expected: d, progress: { _ in })
        let reader = try s.provider(["access_key_id": .string(s.server.readerKey), "secret_access_key": .string(s.server.readerSecret)])
        let lines = try await reader.check().joined(separator: "\n")
        #expect(lines.contains("can only read"), "\(lines)")
        let local = try s.dir.sub("dl") + "/r.bin"
        #expect(try await reader.download(s.path("r.bin"), to: local, progress: { _ in }) == d)
        do {
            try await reader.upload(localFile: src, to: s.path("w.bin"), expected: d, progress: { _ in })
            Issue.record("a read-only key must not write")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("AccessDenied"), "\(e)")
        }
    }

    @Test("credentials from a profile that S3 refuses: the message names the profile, not a site key")
    func refusedProfile() async throws {
        let s = try await Self.setUp(.seaweedfs)
        let file = s.dir.path + "/credentials"
        try "[studio]\naws_access_key_id = \(s.server.accessKey)\naws_secret_access_key = wrong-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        var site = SharedS3.site(s.server, bucket: s.bucket, root: s.root)
        site.options["access_key_id"] = nil
        site.options["secret_access_key"] = nil
        site.options["profile"] = .string("studio")
        let p = try S3Provider(site: site, platform: .current, environment: ["AWS_SHARED_CREDENTIALS_FILE": file])
        do {
            _ = try await p.check()
            Issue.record("a wrong secret must be refused")
        } catch let e as ProviderError {
            #expect(e.kind == .configuration && e.message.contains("profile 'studio' in \(file)") && !e.message.contains("sites.cloud.secret"), "\(e)")
            #expect(!e.message.contains("wrong-secret"))
        }
    }

    @Test("a clock an hour off is corrected from S3's answer")
    func skewedClock() async throws {
        let s = try await Self.setUp(.seaweedfs)
        let p = try s.provider()
        p.client.skew.learn(serverTime: Date().addingTimeInterval(-3600))
        let src = try s.dir.file("t.bin", size: 100, seed: 26)
        let d = try LocalFiles.digest(of: src)
        try await p.upload(localFile: src, to: s.path("time.bin"), expected: d, progress: { _ in })
        #expect(try await p.storedDigest(s.path("time.bin")) == d)
        #expect(abs(p.client.skew.now.timeIntervalSinceNow) < 60, "signing uses the server's time now")
    }
}
