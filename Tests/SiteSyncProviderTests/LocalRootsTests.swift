import Foundation
@testable import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// A root that passed its check and did not change is not listed again for every file; one emptied or made again
/// since is still caught.
@Suite("Local roots")
struct LocalRootsTests {
    /// A root folder of its own (with `file` in it, if given) and a guard that has seen nothing yet.
    static func fixture(_ label: String, file: String? = nil) throws -> (dir: TemporaryDirectory, path: String, roots: LocalRoots, root: SiteRoot) {
        let dir = try TemporaryDirectory(label)
        let path = try dir.sub("root")
        if let file { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(path)/\(file)")) }
        return (dir, path, LocalRoots(), SiteRoot(path: path, site: "disk", name: "work"))
    }

    static func isUnavailable(_ body: () throws -> Void) -> Bool {
        do { try body() } catch let e as ProviderError { return e.kind == .unavailable } catch {}
        return false
    }

    @Test("a root emptied after checks that passed is refused at the next check")
    func emptiedRootIsCaught() throws {
        let fixture = try Self.fixture("roots-emptied", file: "shot.exr")
        let (path, roots, root) = (fixture.path, fixture.roots, fixture.root)
        try roots.check(root)
        try roots.check(root)
        try FileManager.default.removeItem(atPath: "\(path)/shot.exr")
        #expect(Self.isUnavailable { try roots.check(root) })
    }

    @Test("a root deleted and made again, empty, is refused though its path is the same")
    func recreatedRootIsCaught() throws {
        let fixture = try Self.fixture("roots-recreated")
        let (path, roots, root) = (fixture.path, fixture.roots, fixture.root)
        try FileManager.default.createDirectory(atPath: "\(path)/project", withIntermediateDirectories: true)
        try roots.check(root)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        #expect(Self.isUnavailable { try roots.check(root) })
    }

    @Test("a root SiteSync emptied itself passes, and so does one that gets files again")
    func ownDeletesAreExpected() throws {
        let fixture = try Self.fixture("roots-own", file: "a")
        let (path, roots, root) = (fixture.path, fixture.roots, fixture.root)
        try roots.check(root)
        try FileManager.default.removeItem(atPath: "\(path)/a")
        roots.noteDeleted(under: path)
        try roots.check(root)
        try Data("y".utf8).write(to: URL(fileURLWithPath: "\(path)/b"))
        try roots.check(root)
    }
}
