import Foundation
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// A root that passed its check and did not change is not listed again for every file; one emptied or made again
/// since is still caught.
@Suite("Local roots")
struct LocalRootsTests {
    static func isUnavailable(_ body: () throws -> Void) -> Bool {
        do { try body() } catch let e as ProviderError { return e.kind == .unavailable } catch {}
        return false
    }

    @Test("a root emptied after checks that passed is refused at the next check")
    func emptiedRootIsCaught() throws {
        let dir = try TemporaryDirectory("roots-emptied")
        let path = try dir.sub("root")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(path)/shot.exr"))
        let roots = LocalRoots()
        let root = SiteRoot(path: path, site: "disk", name: "work")
        try roots.check(root)
        try roots.check(root)
        try FileManager.default.removeItem(atPath: "\(path)/shot.exr")
        #expect(Self.isUnavailable { try roots.check(root) })
    }

    @Test("a root deleted and made again, empty, is refused though its path is the same")
    func recreatedRootIsCaught() throws {
        let dir = try TemporaryDirectory("roots-recreated")
        let path = try dir.sub("root")
        try FileManager.default.createDirectory(atPath: "\(path)/project", withIntermediateDirectories: true)
        let roots = LocalRoots()
        let root = SiteRoot(path: path, site: "disk", name: "work")
        try roots.check(root)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        #expect(Self.isUnavailable { try roots.check(root) })
    }

    @Test("a root SiteSync emptied itself passes, and so does one that gets files again")
    func ownDeletesAreExpected() throws {
        let dir = try TemporaryDirectory("roots-own")
        let path = try dir.sub("root")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(path)/a"))
        let roots = LocalRoots()
        let root = SiteRoot(path: path, site: "disk", name: "work")
        try roots.check(root)
        try FileManager.default.removeItem(atPath: "\(path)/a")
        roots.noteDeleted(under: path)
        try roots.check(root)
        try Data("y".utf8).write(to: URL(fileURLWithPath: "\(path)/b"))
        try roots.check(root)
    }
}
