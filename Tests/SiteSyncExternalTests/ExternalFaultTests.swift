import Foundation
@testable import SiteSyncExternal
import SiteSyncModel
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// A misbehaving program never hurts the server: each fault is a clear error for that file, the program is
/// replaced, and the next operation works.
@Suite("External providers that misbehave")
struct ExternalFaultTests {
    struct Setup {
        let dir: TemporaryDirectory
        let base: String
        let provider: ExternalProvider
        let source: String
        let digest: ContentDigest
    }

    static func setUp(_ mode: String, options: [String: ConfigValue] = [:], extra: [String: ConfigValue] = [:]) throws -> Setup {
        let dir = try TemporaryDirectory("ext-fault")
        let base = try dir.sub("storage")
        var opts = options
        opts["mode"] = .string(mode)
        let site = try ExternalFixtures.folderSite(base: base, command: [ExternalFixtures.python, ExternalFixtures.broken, mode],
                                                   options: opts, extra: extra)
        let source = try dir.file("src/shot.exr", size: 600_000, seed: 7)
        return Setup(dir: dir, base: base, provider: try ExternalProvider(site: site, platform: .current), source: source,
                     digest: try LocalFiles.digest(of: source))
    }

    static func failure(_ body: () async throws -> Void) async -> ProviderError? {
        do {
            try await body()
            return nil
        } catch let e as ProviderError {
            return e
        } catch {
            Issue.record("expected a ProviderError, got \(error)")
            return nil
        }
    }

    @Test("a program that crashes mid-upload fails that file (a try counted), leaves nothing under the final name, and is restarted")
    func crash() async throws {
        let s = try Self.setUp("crash_once_on_put")
        let e = await Self.failure { try await s.provider.upload(localFile: s.source, to: "/site/sh010/shot.exr", expected: s.digest, progress: { _ in }) }
        #expect(e?.kind == .transient, "\(String(describing: e))")
        #expect(e?.message.contains("exited with status 3") == true, "\(String(describing: e))")
        #expect(e?.message.contains("segmentation fault (pretend)") == true, "its last words are quoted: \(String(describing: e))")
        #expect(!FileManager.default.fileExists(atPath: s.base + "/site/sh010/shot.exr"))
        // The next try gets a new program (after a short pause) and succeeds.
        try await s.provider.upload(localFile: s.source, to: "/site/sh010/shot.exr", expected: s.digest, progress: { _ in })
        #expect(try LocalFiles.digest(of: s.base + "/site/sh010/shot.exr") == s.digest)
    }

    @Test("a program that hangs is stopped after the site's timeout and the file's try fails")
    func hang() async throws {
        // 10 s rather than 1: on a loaded 2-core machine (the parallel test pass) a healthy program's stat has
        // taken more than 3 s.
        let s = try Self.setUp("hang_on_put", extra: ["timeout": .int(10)])
        let started = ContinuousClock.now
        let e = await Self.failure { try await s.provider.upload(localFile: s.source, to: "/site/shot.exr", expected: s.digest, progress: { _ in }) }
        #expect(e?.kind == .transient && e?.message.contains("did not answer put for 10 s") == true, "\(String(describing: e))")
        // The program sleeps an hour: ending within a minute shows it was stopped. (Not tighter: on 2 loaded cores
        // the three Python starts of this test — before the put, and for the clean-up after — take seconds each.)
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(!FileManager.default.fileExists(atPath: s.base + "/site/shot.exr"))
    }

    @Test("garbage on stdout fails the operation with the line quoted; the next operation gets a fresh program")
    func garbage() async throws {
        let s = try Self.setUp("garbage_on_stat")
        let e = await Self.failure { _ = try await s.provider.stat("/site/x") }
        #expect(e?.message.contains("not protocol JSON: 'Traceback (most recent call last): not JSON at all'") == true, "\(String(describing: e))")
        // Still broken the same way, but the server goes on: each call is one clear error, never a hang.
        let again = await Self.failure { _ = try await s.provider.stat("/site/x") }
        #expect(again?.message.contains("not protocol JSON") == true, "\(String(describing: again))")
    }

    @Test("a wrong hash from the storage is an integrity error and nothing reaches the final name")
    func wrongHash() async throws {
        let s = try Self.setUp("wrong_hash")
        let e = await Self.failure { try await s.provider.upload(localFile: s.source, to: "/site/shot.exr", expected: s.digest, progress: { _ in }) }
        #expect(e?.kind == .integrity && e?.message.contains("reports sha256 000000") == true, "\(String(describing: e))")
        #expect(filesBelow(s.base + "/site").isEmpty, "neither the final name nor the temporary one stays: \(filesBelow(s.base + "/site"))")
    }

    @Test("a program that exits at its hello makes the site unavailable, with what it said")
    func exitAtHello() async throws {
        let s = try Self.setUp("exit_at_hello")
        let e = await Self.failure { _ = try await s.provider.check() }
        #expect(e?.kind == .unavailable, "\(String(describing: e))")
        #expect(e?.message.contains("failed at its hello") == true && e?.message.contains("No module named 'boto3'") == true,
                "\(String(describing: e))")
    }

    @Test("a program speaking another protocol version is a configuration error")
    func otherProtocol() async throws {
        let s = try Self.setUp("old_protocol")
        let e = await Self.failure { _ = try await s.provider.check() }
        #expect(e?.kind == .configuration && e?.message.contains("speaks protocol 2") == true, "\(String(describing: e))")
    }

    @Test("a program that is not there is a configuration error naming it")
    func missingProgram() async throws {
        let dir = try TemporaryDirectory("ext-fault")
        let site = try ExternalFixtures.folderSite(base: try dir.sub("storage"), command: ["/opt/nowhere/provider.py"])
        let e = await Self.failure { _ = try await ExternalProvider(site: site, platform: .current).check() }
        #expect(e?.kind == .configuration && e?.message.contains("/opt/nowhere/provider.py is not an executable file") == true,
                "\(String(describing: e))")
        let named = try ExternalFixtures.folderSite(base: try dir.sub("storage2"), command: ["no-such-provider-program"])
        let e2 = await Self.failure { _ = try await ExternalProvider(site: named, platform: .current).check() }
        #expect(e2?.kind == .configuration && e2?.message.contains("cannot start `no-such-provider-program`") == true,
                "\(String(describing: e2))")
    }

    @Test("a secret the program repeats is hidden in the errors SiteSync shows")
    func secretRedacted() async throws {
        let s = try Self.setUp("refuse_with_secret", options: ["password": .string("hunter2-very-secret")])
        let e = await Self.failure { try await s.provider.upload(localFile: s.source, to: "/site/shot.exr", expected: s.digest, progress: { _ in }) }
        #expect(e?.kind == .configuration, "\(String(describing: e))")
        #expect(e?.message.contains("hunter2") == false && e?.message.contains("***") == true, "\(String(describing: e))")
    }
}

@Suite("External provider programs end with SiteSync")
struct ExternalLifetimeTests {
    @Test("a program that ignores the end of its stdin is stopped when the command that started it exits")
    func stubbornProgramStopped() async throws {
        let dir = try TemporaryDirectory("ext-life")
        let program = ExternalFixtures.repository + "/Tests/SiteSyncExternalTests/Fixtures/sqlite_provider_from_docs.py"
        let site = SiteConfig(name: "rows", provider: "external", roots: ["work": RootPath("/studio")], options: [
            // A program that ignores the end of its stdin (the fixture's test switch).
            "command": .list([.string("/usr/bin/env"), .string("SQLP_NOEXIT=1"), .string(ExternalFixtures.python), .string(program)]),
            "options": .map(["database": .string(dir.path + "/files.db")]),
        ])
        let p = try ExternalProvider(site: site, platform: .current)
        _ = try await p.stat("/studio/x")
        // What runs at exit (for this provider's program only: other tests' run beside it): SIGTERM, SIGKILL
        // after two seconds; this program ignores SIGTERM too.
        let pids = await p.pool.idlePIDs()
        #expect(!pids.isEmpty && pids.isSubset(of: ChildProcesses.running.withLock { $0 }))
        ChildProcesses.stop(pids)
        #expect(pids.allSatisfy { !ChildProcesses.isAlive($0) })
    }
}
