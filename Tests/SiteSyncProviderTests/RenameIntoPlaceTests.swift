import Crypto
import Foundation
import SiteSyncModel
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// A file another program puts at the final name after SiteSync looked is never replaced: the rename into place
/// fails instead (`RENAME_NOREPLACE`), and the file is moved aside like one found there before the copy.
@Suite("Rename into place", .serialized)
struct RenameIntoPlaceTests {
    @Test("a file that appears at the final name between the look and the rename is moved aside, not replaced")
    func aFileThatAppearsLateIsMovedAside() throws {
        let dir = try TemporaryDirectory("rename-late")
        let rootPath = try dir.sub("root")
        let bytes = Data(repeating: 7, count: 5000)
        let write = VerifiedLocalWrite(to: "\(rootPath)/shot/a.exr", expected: ContentDigest.of(bytes), source: "studio:a.exr",
                                       root: SiteRoot(path: rootPath, site: "disk", name: "work"))
        #expect(try write.prepare(flag: nil) == nil, "nothing was there when SiteSync looked")
        try bytes.write(to: URL(fileURLWithPath: write.temporary))
        // Another program writes the final name now, after the look.
        let theirs = Data("an artist's own file".utf8)
        try theirs.write(to: URL(fileURLWithPath: write.finalPath))

        let report = try write.commit(ContentDigest.of(bytes), flag: nil)
        let aside = try #require(report.movedAside)
        #expect(try Data(contentsOf: URL(fileURLWithPath: aside)) == theirs, "their file is kept, under a conflict name")
        #expect(try Data(contentsOf: URL(fileURLWithPath: write.finalPath)) == bytes)
        #expect(!LocalFiles.exists(write.temporary))
    }

    @Test("without an expected digest, identical bytes that appeared meanwhile are adopted and the temporary goes")
    func identicalBytesAreAdopted() throws {
        let dir = try TemporaryDirectory("rename-same")
        let rootPath = try dir.sub("root")
        let bytes = Data(repeating: 9, count: 3000)
        let write = VerifiedLocalWrite(to: "\(rootPath)/a.bin", expected: nil, source: "publish",
                                       root: SiteRoot(path: rootPath, site: "disk", name: "work"))
        try bytes.write(to: URL(fileURLWithPath: write.temporary))
        try bytes.write(to: URL(fileURLWithPath: write.finalPath))
        let report = try write.commit(ContentDigest.of(bytes), flag: nil)
        #expect(report.adopted && report.movedAside == nil)
        #expect(!LocalFiles.exists(write.temporary))
    }

    @Test("moving aside never lands on an earlier conflict file of the same second")
    func moveAsideKeepsEarlierConflicts() throws {
        let dir = try TemporaryDirectory("rename-aside")
        let path = try dir.sub("f") + "/a.bin"
        var names: [String] = []
        for i in 0..<3 {
            try Data("version \(i)".utf8).write(to: URL(fileURLWithPath: path))
            names.append(try LocalFiles.moveAside(path))
        }
        #expect(Set(names).count == 3)
        for (i, name) in names.enumerated() {
            #expect(try String(contentsOfFile: name, encoding: .utf8) == "version \(i)")
        }
    }

    @Test("renaming without replacing says false and changes nothing when the name is taken")
    func renameWithoutReplacingRefuses() throws {
        let dir = try TemporaryDirectory("rename-noreplace")
        let folder = try dir.sub("f")
        try Data("new".utf8).write(to: URL(fileURLWithPath: "\(folder)/new"))
        try Data("old".utf8).write(to: URL(fileURLWithPath: "\(folder)/old"))
        #expect(try LocalFiles.renameWithoutReplacing("\(folder)/new", to: "\(folder)/old") == false)
        #expect(try String(contentsOfFile: "\(folder)/old", encoding: .utf8) == "old")
        #expect(try String(contentsOfFile: "\(folder)/new", encoding: .utf8) == "new")
        #expect(try LocalFiles.renameWithoutReplacing("\(folder)/new", to: "\(folder)/third"))
        #expect(!LocalFiles.exists("\(folder)/new"))
    }

    @Test("a file with no name is in no folder listing until it is linked, and linking says false rather than replace a file")
    func unnamedFileLinksWithoutReplacing() throws {
        let dir = try TemporaryDirectory("link-unnamed")
        let folder = try dir.sub("f")
        let fd = try #require(try LocalFiles.openUnnamed(in: folder), "ext4, XFS and btrfs make files with no name (O_TMPFILE)")
        defer { close(fd) }
        let bytes = Array("complete".utf8)
        #expect(write(fd, bytes, bytes.count) == bytes.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "nothing is visible before the link")
        try Data("someone else's".utf8).write(to: URL(fileURLWithPath: "\(folder)/taken"))
        #expect(try LocalFiles.linkUnnamed(fd, to: "\(folder)/taken") == false)
        #expect(try String(contentsOfFile: "\(folder)/taken", encoding: .utf8) == "someone else's")
        #expect(try LocalFiles.linkUnnamed(fd, to: "\(folder)/placed"))
        #expect(try String(contentsOfFile: "\(folder)/placed", encoding: .utf8) == "complete")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder)) == ["taken", "placed"])
    }

    @Test("a copy cancelled after its bytes were written into a file with no name leaves nothing in the folder")
    func unnamedFileVanishesWhenClosed() throws {
        let dir = try TemporaryDirectory("link-unnamed")
        let folder = try dir.sub("f")
        let fd = try #require(try LocalFiles.openUnnamed(in: folder))
        #expect(write(fd, "partial", 7) == 7)
        close(fd)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test("a link the machine refuses turns files with no name off: that copy is tried again, later ones use named temporaries")
    func refusedLinkFallsBackToNamedTemporaries() throws {
        let dir = try TemporaryDirectory("link-unnamed")
        let folder = try dir.sub("f")
        defer { LocalFiles.unnamedLinkRefused.store(false, ordering: .relaxed) }
        #expect(LocalFiles.unnamedFilesLink)
        // A descriptor that is not open: /proc/self/fd has no such entry, as where /proc hides it.
        var notOpen: Int32 = 100_000
        while fcntl(notOpen, F_GETFD) != -1 { notOpen += 1 }
        let error = #expect(throws: ProviderError.self) { try LocalFiles.linkUnnamed(notOpen, to: "\(folder)/placed") }
        #expect(error?.kind == .transient)
        #expect(!LocalFiles.unnamedFilesLink)
        #expect(try LocalFiles.openUnnamed(in: folder) == nil, "named temporaries from now on")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
