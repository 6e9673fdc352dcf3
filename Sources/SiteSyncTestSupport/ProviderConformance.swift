import Foundation
import SiteSyncProviders
import Testing

/// What the provider conformance suite needs from a provider under test.
public struct ProviderFixture: Sendable {
    /// Makes a provider for the site under test; `bytesPerSecond` throttles transfers (for cancellation cases).
    public var make: @Sendable (_ bytesPerSecond: Int64?) throws -> any StorageProvider
    /// The site root, in the provider's own path space; it exists and is empty.
    public var root: String
    /// A local folder for source and downloaded files.
    public var scratch: String
    /// What the provider declares it can do (its `ProviderDescription`'s): cases for optional abilities use it.
    public var capabilities: ProviderCapabilities

    public init(root: String, scratch: String, capabilities: ProviderCapabilities = [],
                make: @escaping @Sendable (Int64?) throws -> any StorageProvider) {
        self.make = make
        self.root = root
        self.scratch = scratch
        self.capabilities = capabilities
    }

    public func path(_ relative: String) -> String { root + "/" + relative }
}

/// The behaviour every provider must have, like rclone's fstests. Each case gets a fresh fixture.
public enum ProviderConformance {
    public typealias Case = @Sendable (ProviderFixture) async throws -> Void

    public static let cases: [(name: String, run: Case)] = [
        ("check reports the root", check),
        ("put then get round-trips the bytes", putGet),
        ("a different file in the way is moved aside, never overwritten", overwrite),
        ("an identical file already there is adopted, not sent again", adopt),
        ("delete removes the file and the folders it empties", delete),
        ("a missing file is reported, not invented", missing),
        ("a put that fails verification leaves nothing under the final name", failedPut),
        ("a failed overwrite keeps the old content", failedOverwrite),
        ("a cancelled put leaves nothing under the final name", cancelledPut),
        ("unicode, spaces and quotes in names", unicodeNames),
        ("a 0-byte file", emptyFile),
        ("nested folders are created", nestedFolders),
        ("progress is reported", progress),
        ("a server-side copy is verified, adopts, and refuses a missing or different source", serverSideCopy),
    ]

    public static var names: [String] { cases.map(\.name) }

    public static func run(_ name: String, _ fixture: ProviderFixture) async throws {
        guard let c = cases.first(where: { $0.name == name }) else {
            Issue.record("no conformance case '\(name)'")
            return
        }
        try await c.run(fixture)
    }

    /// A local source file and its digest.
    static func source(_ f: ProviderFixture, _ name: String, size: Int, seed: UInt64) throws -> (String, ContentDigest) {
        let path = f.scratch + "/src-" + name.replacingOccurrences(of: "/", with: "_")
        try TemporaryDirectory.bytes(size: size, seed: seed).write(to: URL(fileURLWithPath: path))
        return (path, try LocalFiles.digest(of: path))
    }

    /// Downloads `path` and returns the digest of what arrived (re-hashed from disk, not the provider's word).
    static func fetch(_ provider: any StorageProvider, _ f: ProviderFixture, _ path: String) async throws -> ContentDigest {
        let local = f.scratch + "/dl-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: local) }
        let reported = try await provider.download(path, to: local, progress: { _ in })
        let actual = try LocalFiles.digest(of: local)
        #expect(reported == actual, "the digest download() returns must be that of the bytes it wrote")
        return actual
    }

    static func serverSideCopy(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (a, da) = try source(f, "orig", size: 70_000, seed: 21)
        let original = f.path("dedup/v001/tex.png")
        let copy = f.path("dedup/v002/tex.png")
        try await p.upload(localFile: a, to: original, expected: da, progress: { _ in })
        guard f.capabilities.contains(.serverSideCopy) else {
            // Without the ability the call is refused, never half done.
            await #expect(throws: ProviderError.self) { try await p.copy(original, to: copy, expected: da) }
            #expect(try await p.stat(copy) == nil)
            return
        }
        let made = try await p.copy(original, to: copy, expected: da)
        #expect(!made.adopted && made.movedAside == nil)
        #expect(try await fetch(p, f, copy) == da)
        #expect(try await p.copy(original, to: copy, expected: da).adopted, "the same copy again is adopted")
        let missing = await #expect(throws: ProviderError.self) {
            try await p.copy(f.path("dedup/none.png"), to: f.path("dedup/v003/none.png"), expected: da)
        }
        #expect(missing?.kind == .sourceMissing)
        let other = ContentDigest(size: da.size, sha256: String(repeating: "0", count: 64))
        let different = await #expect(throws: ProviderError.self) {
            try await p.copy(original, to: f.path("dedup/v004/tex.png"), expected: other)
        }
        #expect(different?.kind == .sourceCorrupt)
        #expect(try await p.stat(f.path("dedup/v004/tex.png")) == nil, "nothing is left under the final name")
    }

    static func check(_ f: ProviderFixture) async throws {
        let lines = try await f.make(nil).check()
        #expect(!lines.isEmpty)
    }

    static func putGet(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, digest) = try source(f, "a.bin", size: 3 << 20 | 12345, seed: 1)
        let target = f.path("shots/sh010/a.bin")
        try await p.upload(localFile: src, to: target, expected: digest, progress: { _ in })
        #expect(try await p.stat(target)?.size == digest.size)
        #expect(try await fetch(p, f, target) == digest)
    }

    static func overwrite(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let target = f.path("over/x.ma")
        let (a, da) = try source(f, "a", size: 5000, seed: 2)
        let (b, db) = try source(f, "b", size: 7000, seed: 3)
        let first = try await p.upload(localFile: a, to: target, expected: da, progress: { _ in })
        #expect(first.movedAside == nil && !first.adopted)
        let second = try await p.upload(localFile: b, to: target, expected: db, progress: { _ in })
        #expect(try await fetch(p, f, target) == db)
        let aside = try #require(second.movedAside, "the file that was in the way must be moved aside and named")
        #expect(aside.contains("x.ma.sitesync-conflict-"), "\(aside)")
        #expect(try await fetch(p, f, aside) == da, "the file that was in the way keeps its bytes")
    }

    static func adopt(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let target = f.path("same/x.ma")
        let (a, da) = try source(f, "same", size: 5000, seed: 12)
        try await p.upload(localFile: a, to: target, expected: da, progress: { _ in })
        let again = try await p.upload(localFile: a, to: target, expected: da, progress: { _ in })
        #expect(again.adopted && again.movedAside == nil)
        #expect(try await fetch(p, f, target) == da)
    }

    static func delete(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, d) = try source(f, "d", size: 100, seed: 4)
        let keep = f.path("proj/keep/k.txt")
        let target = f.path("proj/deep/er/d.txt")
        try await p.upload(localFile: src, to: keep, expected: d, progress: { _ in })
        try await p.upload(localFile: src, to: target, expected: d, progress: { _ in })
        try await p.delete(target, pruneUpTo: f.root)
        #expect(try await p.stat(target) == nil)
        #expect(try await p.stat(keep) != nil, "a sibling folder's file must survive")
        // Deleting what is already gone is not an error: a retried removal must succeed.
        try await p.delete(target, pruneUpTo: f.root)
        try await p.delete(keep, pruneUpTo: f.root)
        // The root itself is never pruned: the site stays usable.
        _ = try await p.check()
    }

    static func missing(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        #expect(try await p.stat(f.path("no/such/file")) == nil)
        do {
            _ = try await p.download(f.path("no/such/file"), to: f.scratch + "/missing", progress: { _ in })
            Issue.record("downloading a missing file must fail")
        } catch let error as ProviderError {
            #expect(error.kind == .notFound, "got \(error.kind): \(error)")
        }
    }

    static func failedPut(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, digest) = try source(f, "bad", size: 200_000, seed: 5)
        let target = f.path("bad/file.exr")
        let wrong = ContentDigest(size: digest.size, sha256: String(repeating: "0", count: 64))
        do {
            try await p.upload(localFile: src, to: target, expected: wrong, progress: { _ in })
            Issue.record("an upload that does not match its expected hash must fail")
        } catch let error as ProviderError {
            // The bytes read from the local file are not what the catalog says: the source is at fault.
            #expect(error.kind == .sourceCorrupt, "got \(error.kind): \(error)")
        }
        #expect(try await p.stat(target) == nil)
    }

    static func failedOverwrite(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let target = f.path("keep/old.ma")
        let (a, da) = try source(f, "old", size: 3000, seed: 6)
        let (b, db) = try source(f, "new", size: 4000, seed: 7)
        try await p.upload(localFile: a, to: target, expected: da, progress: { _ in })
        do {
            try await p.upload(localFile: b, to: target, expected: ContentDigest(size: db.size, sha256: da.sha256), progress: { _ in })
            Issue.record("an upload whose local file does not match must fail")
        } catch let error as ProviderError {
            #expect(error.kind == .sourceCorrupt, "got \(error.kind): \(error)")
        }
        #expect(try await fetch(p, f, target) == da)
    }

    static func cancelledPut(_ f: ProviderFixture) async throws {
        // 8 MiB at 1 MiB/s: eight seconds, cancelled after the first bytes (a wide window: on two loaded cores the
        // poll that sees the first bytes can wake seconds late, and an upload that already ended cannot be cancelled).
        let p = try f.make(1 << 20)
        let (src, digest) = try source(f, "big", size: 8 << 20, seed: 8)
        let target = f.path("cancel/big.bin")
        let started = Flag()
        let task = Task {
            try await p.upload(localFile: src, to: target, expected: digest, progress: { if $0 > 0 { started.set() } })
        }
        // Starting can take long on loaded cores (a provider program to launch, a server to reach); the eight
        // seconds of the upload itself begin only with its first bytes.
        try await eventually("the upload to start", timeout: 120) { started.isSet }
        task.cancel()
        switch await task.result {
        case .success:
            Issue.record("a cancelled upload must not report success")
        case .failure(let error):
            // Cancelled, and saying so: not a failure that would count a try or blame the site.
            let cancelled = error is CancellationError || (error as? ProviderError)?.kind == .cancelled
            #expect(cancelled, "a cancelled upload must end as cancelled, got: \(error)")
        }
        #expect(try await p.stat(target) == nil)
    }

    static func unicodeNames(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        for name in ["Ünïcødé 名前 ✓.exr", "it's \"quoted\" & spaced.ma", "back\\slash.txt", "emoji 🎬.mov"] {
            let (src, d) = try source(f, "u\(name.hashValue)", size: 1234, seed: 9)
            let target = f.path("üñí/\(name)")
            try await p.upload(localFile: src, to: target, expected: d, progress: { _ in })
            #expect(try await p.stat(target)?.size == 1234, "\(name)")
            #expect(try await fetch(p, f, target) == d, "\(name)")
        }
    }

    static func emptyFile(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, d) = try source(f, "empty", size: 0, seed: 10)
        #expect(d.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let target = f.path("empty/zero.txt")
        try await p.upload(localFile: src, to: target, expected: d, progress: { _ in })
        #expect(try await p.stat(target)?.size == 0)
        #expect(try await fetch(p, f, target) == d)
    }

    static func nestedFolders(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, d) = try source(f, "n", size: 10, seed: 11)
        let target = f.path("a/b/c/d/e/f/g/n.txt")
        try await p.upload(localFile: src, to: target, expected: d, progress: { _ in })
        #expect(try await p.stat(target)?.size == 10)
    }

    static func progress(_ f: ProviderFixture) async throws {
        let p = try f.make(nil)
        let (src, d) = try source(f, "prog", size: 3 << 20, seed: 12)
        let seen = Flag()
        let last = Counter()
        try await p.upload(localFile: src, to: f.path("prog.bin"), expected: d, progress: { seen.set(); last.set($0) })
        #expect(seen.isSet)
        #expect(last.value == d.size)
    }
}

public final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}

public final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Int64 = 0
    public init() {}
    public func set(_ v: Int64) { lock.withLock { current = v } }
    public var value: Int64 { lock.withLock { current } }
}
