import Crypto
import Foundation
import SiteSyncModel
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("Small local writes in batches")
struct LocalWriteBatchTests {
    @Test("files written at once share a batch, and each gets its own outcome: placed, adopted, moved aside, missing, damaged")
    func outcomes() async throws {
        let dir = try TemporaryDirectory("writebatch")
        let sources = try dir.sub("sources")
        let rootPath = try dir.sub("root")
        let root = SiteRoot(path: rootPath, site: "disk", name: "work")
        try #require(LocalWriteBatch.takes(root), "the test directory's file system (\(rootPath)) should take batches (ext4, XFS, btrfs)")
        var writes: [(name: String, bytes: Data, expected: ContentDigest)] = []
        for i in 0..<40 {
            let bytes = Data("file \(i) ".utf8) + Data(repeating: UInt8(i), count: 4096)
            try bytes.write(to: URL(fileURLWithPath: "\(sources)/f\(i)"))
            writes.append(("f\(i)", bytes, ContentDigest.of(bytes)))
        }
        // f1 is already in place with the right bytes; f2's place holds someone else's file; f3's source is gone;
        // f4's source does not match what the catalog expects.
        try FileManager.default.createDirectory(atPath: "\(rootPath)/shot", withIntermediateDirectories: true)
        try writes[1].bytes.write(to: URL(fileURLWithPath: "\(rootPath)/shot/f1"))
        try Data("not yours".utf8).write(to: URL(fileURLWithPath: "\(rootPath)/shot/f2"))
        try FileManager.default.removeItem(atPath: "\(sources)/f3")
        writes[4].expected = ContentDigest.of(Data("something else".utf8))

        let queue = LocalWriteBatch.queues.queue(for: rootPath)
        let results = await withTaskGroup(of: (Int, Result<WriteReport, any Error>).self) { group in
            for (i, w) in writes.enumerated() {
                group.addTask {
                    let write = VerifiedLocalWrite(to: "\(rootPath)/shot/\(w.name)", expected: w.expected,
                                                   source: "studio:\(sources)/\(w.name)", root: root)
                    do {
                        return (i, .success(try await write.copy(from: "\(sources)/\(w.name)", bytesPerSecond: nil) { _ in }))
                    } catch {
                        return (i, .failure(error))
                    }
                }
            }
            var all: [Int: Result<WriteReport, any Error>] = [:]
            for await (i, result) in group { all[i] = result }
            return all
        }
        let (batches, requests) = (await queue.batches, await queue.requests)
        #expect(requests == writes.count, "one queue per root: only this test's files went through this root's")
        #expect(batches < requests, "40 files submitted at once went through \(batches) batches: none was shared")

        for (i, w) in writes.enumerated() {
            let final = "\(rootPath)/shot/\(w.name)"
            switch i {
            case 1:
                #expect((try? results[i]?.get())?.adopted == true)
            case 2:
                let report = try #require(try? results[i]?.get())
                let aside = try #require(report.movedAside)
                #expect(FileManager.default.contents(atPath: aside) == Data("not yours".utf8), "the other file is kept, not overwritten")
                #expect(FileManager.default.contents(atPath: final) == w.bytes)
            case 3:
                #expect(throws: ProviderError.self) { try results[i]?.get() }
                #expect((Self.error(results[i]))?.kind == .sourceMissing)
                #expect(!FileManager.default.fileExists(atPath: final))
            case 4:
                #expect((Self.error(results[i]))?.kind == .sourceCorrupt)
                #expect(!FileManager.default.fileExists(atPath: final), "a damaged source never reaches the final name")
            default:
                let report = try #require(try? results[i]?.get(), "\(w.name): \(String(describing: Self.error(results[i])))")
                #expect(report.digest == w.expected && !report.adopted && report.movedAside == nil)
                #expect(FileManager.default.contents(atPath: final) == w.bytes)
            }
        }
        #expect(filesBelow(rootPath, where: LocalFiles.isTemporary).isEmpty, "no temporary file is left behind")
    }

    @Test("a file whose transfer was cancelled before its batch ran is not put in place")
    func cancelled() async throws {
        let dir = try TemporaryDirectory("writebatch")
        let rootPath = try dir.sub("root")
        let bytes = Data(repeating: 7, count: 1000)
        try bytes.write(to: URL(fileURLWithPath: "\(dir.path)/source"))
        let write = VerifiedLocalWrite(to: "\(rootPath)/a/file", expected: ContentDigest.of(bytes), source: "studio:source",
                                       root: SiteRoot(path: rootPath, site: "disk", name: "work"))
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await write.copy(from: "\(dir.path)/source", bytesPerSecond: nil) { _ in }
        }
        let result = await task.result
        #expect(Self.error(result)?.kind == .cancelled)
        #expect(!FileManager.default.fileExists(atPath: "\(rootPath)/a/file"))
        #expect(filesBelow(rootPath, where: LocalFiles.isTemporary).isEmpty)
    }

    @Test("only file systems whose syncfs really flushes take batches; a file outside any root never does")
    func fileSystems() {
        #expect(LocalWriteBatch.syncfsFlushes(fileSystemType: 0xEF53))        // ext2/3/4
        #expect(LocalWriteBatch.syncfsFlushes(fileSystemType: 0x5846_5342))   // XFS
        #expect(LocalWriteBatch.syncfsFlushes(fileSystemType: 0x9123_683E))   // btrfs
        #expect(!LocalWriteBatch.syncfsFlushes(fileSystemType: 0x6969))       // NFS
        #expect(!LocalWriteBatch.syncfsFlushes(fileSystemType: 0x6573_5546)) // FUSE
        #expect(!LocalWriteBatch.syncfsFlushes(fileSystemType: 0xFF53_4D42)) // CIFS/SMB
        #expect(!LocalWriteBatch.takes(nil))
    }

    static func error(_ result: Result<WriteReport, any Error>?) -> ProviderError? {
        guard case .failure(let error)? = result else { return nil }
        return error as? ProviderError
    }
}
