import Foundation
import SiteSyncLocalDrive
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("Local Drive provider")
struct LocalDriveTests {
    static func fixture(_ dir: TemporaryDirectory) throws -> ProviderFixture {
        let root = try dir.sub("root")
        let scratch = try dir.sub("scratch")
        return ProviderFixture(root: root, scratch: scratch) { limit in
            LocalDriveProvider(site: SiteConfig(name: "disk", provider: "local_drive", roots: ["work": RootPath(root)],
                                                bandwidthLimit: limit), platform: .current)
        }
    }

    @Test("conformance", arguments: ProviderConformance.names)
    func conformance(_ name: String) async throws {
        let dir = try TemporaryDirectory("localdrive")
        try await ProviderConformance.run(name, try Self.fixture(dir))
        // Whatever the case did, no temporary file may be left behind.
        #expect(filesBelow("\(dir.path)/root", where: LocalFiles.isTemporary).isEmpty)
    }

    @Test("check refuses a missing root (an unmounted share) and says how to fix it")
    func missingRoot() async throws {
        let dir = try TemporaryDirectory("localdrive")
        let provider = LocalDriveProvider(site: SiteConfig(name: "nas", provider: "local_drive",
                                                           roots: ["work": RootPath("\(dir.path)/not-mounted")]),
                                          platform: .current)
        do {
            _ = try await provider.check()
            Issue.record("a missing root must be refused")
        } catch let error as ProviderError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("not-mounted") && error.message.contains("mkdir -p"))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/not-mounted"), "check must not create the root")
    }

    @Test("per-platform roots pick this platform's path")
    func platformRoots() async throws {
        let dir = try TemporaryDirectory("localdrive")
        let site = SiteConfig(name: "studio", provider: "local_drive",
                              roots: ["work": RootPath(perPlatform: [.linux: dir.path, .windows: "P:/projects", .darwin: dir.path])])
        let lines = try await LocalDriveProvider(site: site, platform: .current).check()
        #expect(lines == ["root work: \(dir.path) (exists, writable)"])
    }
}
