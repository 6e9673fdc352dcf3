import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// Dedup by content: a file whose bytes are already verified on the target (an unchanged texture of a new
/// version) is made there from that copy instead of being sent again.
@Suite struct DedupTests {
    static let settings = TestStudio.standard.replacingOccurrences(of: "active_site: local", with: "active_site: studio")

    /// Version 1 of ten files synced to the backup, then version 2 with nine of them unchanged.
    static func republished(_ studio: TestStudio, _ service: SiteSync) async throws
        -> (v1: SiteSync.PublishResult, v2: SiteSync.PublishResult) {
        let sources = try (0..<10).map { try studio.source("t\($0).png", size: 30_000 + $0, seed: UInt64($0 + 1)) }
        let v1 = try await studio.publish(service, version: 1, files: sources)
        #expect(try await studio.once(service).moved.count == 10)
        let changed = try studio.dir.file("sources-v2/t9.png", size: 30_009, seed: 99)
        let v2 = try await studio.publish(service, version: 2, files: Array(sources[0..<9]) + [changed])
        return (v1, v2)
    }

    @Test("a republished version's unchanged files are made from the copies already on the target, not sent again")
    func unchangedFilesAreNotSent() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        let service = try studio.machine("sync-service")
        let (v1, v2) = try await Self.republished(studio, service)
        let summary = try await studio.once(service)
        #expect(summary.deduplicated.count == 9)
        #expect(summary.moved.map { ($0.path as NSString).lastPathComponent } == ["t9.png"])
        #expect(studio.verified(v2, on: "backup"))
        // `show` says which copy each was made from.
        let states = try await service.show(v2.representation.id).states.filter { $0.site == "backup" }
        let made = states.compactMap(\.madeFrom)
        #expect(made.count == 9)
        #expect(made.allSatisfy { $0.contains("/v001/") }, "\(made)")
        // Independent files, never links: changing one version's file leaves the other's alone.
        for (old, new) in zip(v1.files[0..<9], v2.files[0..<9]) {
            var a = stat(), b = stat()
            #expect(stat(studio.path(old, on: "backup"), &a) == 0 && stat(studio.path(new, on: "backup"), &b) == 0)
            #expect(a.st_ino != b.st_ino && b.st_nlink == 1)
        }
    }

    @Test("an identical copy found damaged or replaced on the target is not used: the bytes come from the source")
    func damagedIdenticalCopyFallsBackToTheSource() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        let service = try studio.machine("sync-service")
        let (v1, v2) = try await Self.republished(studio, service)
        // Behind SiteSync's back, version 1's files on the backup: one overwritten, one replaced by a folder, one
        // by a link to an endless device, one by a named pipe.
        let backup = v1.files.map { studio.path($0, on: "backup") }
        try Data(repeating: 7, count: 30_000).write(to: URL(fileURLWithPath: backup[0]))
        for path in backup[1...3] { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: backup[1], withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: backup[2], withDestinationPath: "/dev/zero")
        #expect(mkfifo(backup[3], 0o644) == 0)
        let summary = try await studio.once(service)
        #expect(summary.deduplicated.count == 5)
        #expect(Set(summary.moved.map { ($0.path as NSString).lastPathComponent }) == ["t0.png", "t1.png", "t2.png", "t3.png", "t9.png"])
        #expect(summary.failed.isEmpty)
        #expect(studio.verified(v2, on: "backup"))
    }
}
